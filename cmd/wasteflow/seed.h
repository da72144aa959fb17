/* `wasteflow seed`: demo and benchmark data, loaded with plain blocking libpq (a
 * command-line tool, not the event loop). */
#ifndef WF_CMD_SEED_H
#define WF_CMD_SEED_H

#include "util/config.h"

/* argv[0] is the dataset name ("case1" or "synthetic"). Returns the process exit code. */
int seed_main(const config *cfg, int argc, char **argv);

#endif
