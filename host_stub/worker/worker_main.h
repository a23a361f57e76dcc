/* The worker process's entry, reached through "host_stub --worker ..." (worker_main.c). */
#ifndef HOST_WORKER_MAIN_H
#define HOST_WORKER_MAIN_H

/* argv as main received it; returns the process's exit status. */
int worker_main(int argc, char **argv);

#endif
