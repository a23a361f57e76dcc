/*
 * host_stub: the reference host. The same binary is the supervisor and, as
 * "host_stub --worker ...", each worker process (docs/ARCHITECTURE.md). This
 * file only joins the two libraries: the supervisor runs workers as
 * processes of this binary, or as threads running worker_serve.
 */
#include <string.h>

#include "supervisor.h"
#include "worker_main.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_main(argc, argv);
    if (argc > 1 && (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "ctl") == 0))
        return ctl_main(argc, argv);
    if (argc == 3 && strcmp(argv[1], "describe") == 0)
        return supervisor_describe(argv[2], worker_serve);
    options opt;
    int rc = options_parse(argc, argv, &opt);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    return supervisor_run(&opt, worker_serve);
}
