/*
 * The client side of the control socket (control.h): what
 *
 *   host_stub status [--json] [--quiet] [--control PATH] [--timeout SECONDS]
 *   host_stub ctl status|reload|poll PLUGIN[/INSTANCE] [--json] [--control PATH]
 *                 [--timeout SECONDS]
 *
 * run. Exit codes (docs/OPERATIONS.md): 0 the host answered and everything
 * asked about is well (every instance healthy; every poll ok; the reload
 * applied); 1 it answered, and something is not (an instance failing or not
 * running, a poll failed, a reload refused, a request refused); 2 usage; 3 no
 * host answers (none running, or no answer within the timeout).
 */
#ifndef SUPERVISOR_CTL_CLIENT_H
#define SUPERVISOR_CTL_CLIENT_H

/* argv[1] is "status" or "ctl". */
int ctl_main(int argc, char **argv);

#endif
