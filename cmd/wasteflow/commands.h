/* The wasteflow command's subcommands (one file each in cmd/wasteflow/). Each returns the
 * process's exit code. */
#ifndef WF_CMD_COMMANDS_H
#define WF_CMD_COMMANDS_H

#include "util/config.h"

/* How long the tools wait for a database that is starting up. */
#define MIGRATE_WAIT_SECONDS 30

int serve_main(const config *cfg);
/* argv[0] is the dataset name ("case1", "synthetic" or "demo-keys"). */
int seed_main(const config *cfg, int argc, char **argv);
/* argv[0] is "create", "list" or "revoke". */
int keys_main(const config *cfg, int argc, char **argv);
/* An admin key and one key per demo organization and storage, kept in the file at path
 * (reused while they still work) and printed. */
int keys_demo(const config *cfg, const char *path);

#endif
