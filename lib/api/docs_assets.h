/* Static files of the /docs page compiled into the binary. */
#ifndef WF_API_DOCS_ASSETS_H
#define WF_API_DOCS_ASSETS_H

typedef struct {
    const char *path;
    const char *content_type;
    const char *start;
    const char *end; /* one past the last byte */
} docs_asset;

extern const docs_asset docs_assets[];
extern const int docs_asset_count;

#endif
