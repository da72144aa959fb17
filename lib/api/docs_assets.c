/* Swagger UI's vendored files (lib/api/vendor/swagger-ui-dist), compiled into the binary
 * with the assembler's .incbin: 1.5 MB of JavaScript would make a slow C initializer. */
#include "api/docs_assets.h"

#ifndef WF_SWAGGER_DIR
#error "WF_SWAGGER_DIR must name the vendored swagger-ui-dist directory"
#endif

#define WF_INCBIN(symbol, file)                                                                    \
    __asm__(".section .rodata\n"                                                                   \
            ".global " #symbol "\n"                                                                \
            ".balign 16\n" #symbol ":\n"                                                           \
            ".incbin \"" WF_SWAGGER_DIR "/" file "\"\n"                                            \
            ".global " #symbol "_end\n" #symbol "_end:\n"                                          \
            ".byte 0\n"                                                                            \
            ".previous\n")

WF_INCBIN(wf_swagger_bundle_js, "swagger-ui-bundle.js");
WF_INCBIN(wf_swagger_css, "swagger-ui.css");

extern const char wf_swagger_bundle_js[], wf_swagger_bundle_js_end[];
extern const char wf_swagger_css[], wf_swagger_css_end[];

const docs_asset docs_assets[] = {
    {"/docs/swagger-ui-bundle.js", "application/javascript; charset=utf-8", wf_swagger_bundle_js,
     wf_swagger_bundle_js_end},
    {"/docs/swagger-ui.css", "text/css; charset=utf-8", wf_swagger_css, wf_swagger_css_end},
};
const int docs_asset_count = sizeof docs_assets / sizeof docs_assets[0];
