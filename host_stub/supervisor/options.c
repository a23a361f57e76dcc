#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_config.h"
#include "port.h"
#include "db.h"

/*
 * The plugins folder an install puts beside this program: its folder, then
 * PA_PLUGIN_DIR_FROM_BIN (BINDIR to LIBDIR/pa-plugins), so `cmake --install
 * --prefix P` finds P's plugins. Resolved when it exists, for the logs.
 */
static const char *default_plugins_dir(void)
{
    static char dir[4096];
    char exe[4096], joined[8300];
    char *slash = port_executable_path(exe, sizeof exe) == 0 ? strrchr(exe, '/') : NULL;
    if (!slash)
        return PA_PLUGIN_DIR_FROM_BIN; /* relative to the working folder: said in the logs */
    *slash = '\0';
    snprintf(joined, sizeof joined, "%s/%s", exe, PA_PLUGIN_DIR_FROM_BIN);
    if (!realpath(joined, dir))
        snprintf(dir, sizeof dir, "%.4095s", joined);
    return dir;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: host_stub [--plugins DIR] [--config FILE] [--agent-config [FILE]]\n"
        "                 [--db URL|FILE] [--polls N]\n"
        "                 [--interval SECONDS] [--watch] [--stats] [--verbose|--quiet]\n"
        "                 [--log-format text|journald] [--allow-shared-db]\n"
        "                 [--fake-clock EPOCH_SECONDS] [--check-config] [--control PATH|none]\n"
        "                 [--dry-run|--test] [-h|--help] [--version]\n"
        "       host_stub status [--json] [--quiet] [--control PATH]\n"
        "       host_stub ctl status|reload|poll PLUGIN[/INSTANCE] [--json] [--control PATH]\n"
        "defaults: --config ./host.json; --plugins %s\n"
        "  (the pa-plugins folder an install puts beside this program's folder)\n"
        "--agent-config reads the agent's config.yaml (default ./config.yaml): its granola\n"
        "  workspaces become granola instances, its database.url the database; host.json\n"
        "  is then read only if --config is given, and adds to it (docs/OPERATIONS.md).\n"
        "--db: sqlite:///PATH or a path; without it host.json's \"database\", then\n"
        "  config.yaml's database.url, PA_DATABASE__URL (the agent's), then the agent's\n"
        "  default (personal_assistant.db beside config.yaml), or ./agent.db without one.\n"
        "Runs until SIGINT/SIGTERM unless --polls N is given; SIGUSR1 prints pool statistics.\n"
        "--watch reloads a plugin whose .so changes, loads new ones, drops removed ones.\n"
        "--allow-shared-db lets several hosts use one database (default: one, by lock file).\n"
        "--check-config checks host.json and every enabled instance by its plugin's rules,\n"
        "  without the database or the network; exits 0 or 2.\n"
        "--control: the socket status and ctl talk to (default $PA_CONTROL_SOCKET, else\n"
        "  $XDG_RUNTIME_DIR/pa-plugins/control.sock, else /tmp/pa-plugins-UID/control.sock).\n"
        "--dry-run (or --test) polls every enabled instance once on the real database and\n"
        "  rolls back every write, the plugins' and the host's: the items are printed on\n"
        "  stdout, not delivered, and nothing is marked processed. Exit 0, or 3 if a poll failed.\n"
        "--fake-clock starts a virtual clock that jumps instead of sleeping (for tests).\n",
        default_plugins_dir());
}

static void version(void)
{
    char engines[256];
    db_engine_versions(engines, sizeof engines);
    printf("host_stub %s\nplugin ABI %u.%u\n%s", PA_VERSION, PA_ABI_VERSION_MAJOR,
           PA_ABI_VERSION_MINOR, engines);
}

static bool parse_long(const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* A number option within min..max into *out; false (said on stderr, with what) otherwise. */
static bool number_option(const char *name, const char *arg, long min, long max,
                          const char *expected, long *out)
{
    if (parse_long(arg, min, max, out))
        return true;
    fprintf(stderr, "host_stub: --%s: expected %s, got '%s'\n", name, expected, arg);
    return false;
}

/* The options that take a value which must be checked. 0, or EXIT_CONFIG. */
static int valued_option(int c, const char *arg, options *opt)
{
    long v;
    switch (c) {
    case 'n':
        return number_option("polls", arg, 1, 1000000000L, "a positive integer", &opt->polls)
                   ? 0
                   : EXIT_CONFIG;
    case 'i':
        return number_option("interval", arg, 1, 30L * 24 * 3600, "seconds from 1 to 2592000",
                             &opt->interval_seconds)
                   ? 0
                   : EXIT_CONFIG;
    case 'f':
        if (!number_option("fake-clock", arg, 0, 253402300799L, "seconds since the epoch", &v))
            return EXIT_CONFIG;
        opt->virtual_clock = true;
        opt->virtual_start_ms = (int64_t)v * 1000;
        return 0;
    default: /* 'L' */
        if (strcmp(arg, "text") != 0 && strcmp(arg, "journald") != 0) {
            fprintf(stderr, "host_stub: --log-format: expected text or journald, got '%s'\n", arg);
            return EXIT_CONFIG;
        }
        opt->journald = strcmp(arg, "journald") == 0;
        return 0;
    }
}

/* One option: 0 to go on, -1 when done (help, version), EXIT_CONFIG for a usage error. */
static int apply_option(int c, const char *arg, options *opt)
{
    switch (c) {
    case 'p':
        opt->plugins_dir = arg;
        return 0;
    case 'c':
        opt->config_path = arg;
        opt->config_name = arg;
        return 0;
    case 'A':
        opt->agent_config_path = arg ? arg : AGENT_CONFIG_DEFAULT;
        return 0;
    case 'd':
        opt->db_arg = arg;
        return 0;
    case 'w':
        opt->watch = true;
        return 0;
    case 's':
        opt->stats = true;
        return 0;
    case 'v':
        opt->verbose = true;
        return 0;
    case 'q':
        opt->quiet = true;
        return 0;
    case 'S':
        opt->allow_shared_db = true;
        return 0;
    case 'C':
        opt->check_config = true;
        return 0;
    case 'K':
        opt->control_path = arg;
        return 0;
    case 'D':
        opt->dry_run = true;
        return 0;
    case 'n':
    case 'i':
    case 'f':
    case 'L':
        return valued_option(c, arg, opt);
    case 'h':
        usage(stdout);
        return -1;
    case 'V':
        version();
        return -1;
    default:
        usage(stderr);
        return EXIT_CONFIG;
    }
}

static const struct option LONG_OPTIONS[] = {{"plugins", required_argument, NULL, 'p'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"agent-config", optional_argument, NULL, 'A'},
                                             {"db", required_argument, NULL, 'd'},
                                             {"polls", required_argument, NULL, 'n'},
                                             {"interval", required_argument, NULL, 'i'},
                                             {"watch", no_argument, NULL, 'w'},
                                             {"stats", no_argument, NULL, 's'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"fake-clock", required_argument, NULL, 'f'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"version", no_argument, NULL, 'V'},
                                             {"log-format", required_argument, NULL, 'L'},
                                             {"allow-shared-db", no_argument, NULL, 'S'},
                                             {"check-config", no_argument, NULL, 'C'},
                                             {"control", required_argument, NULL, 'K'},
                                             {"dry-run", no_argument, NULL, 'D'},
                                             {"test", no_argument, NULL, 'D'},
                                             {NULL, 0, NULL, 0}};

/* What the options mean together, once all are read: 0, or EXIT_CONFIG (said). */
static int settle(options *opt)
{
    if (opt->verbose && opt->quiet) {
        fprintf(stderr, "host_stub: --verbose and --quiet cannot go together\n");
        return EXIT_CONFIG;
    }
    opt->log_level = opt->verbose ? PA_LOG_DEBUG : opt->quiet ? PA_LOG_WARN : PA_LOG_INFO;
    if (opt->dry_run && (opt->polls > 1 || opt->watch || opt->check_config)) {
        fprintf(stderr, "host_stub: --dry-run polls each instance once; it takes no --polls, "
                        "--watch or --check-config\n");
        return EXIT_CONFIG;
    }
    if (opt->dry_run)
        opt->polls = 1;
    if (!opt->plugins_dir)
        opt->plugins_dir = default_plugins_dir();
    if (opt->agent_config_path && !opt->config_name) {
        opt->config_path = NULL; /* host.json only when asked for, beside the agent's */
        opt->config_name = opt->agent_config_path;
    }
    if (!opt->config_name)
        opt->config_name = opt->config_path;
    return 0;
}

int options_parse(int argc, char **argv, options *opt)
{
    *opt = (options){.plugins_dir = NULL, .config_path = "./host.json", .log_level = PA_LOG_INFO};
    int c, rc;
    opterr = 0; /* said here, as "host_stub: ...", not with the path it was started by */
    while ((c = getopt_long(argc, argv, "h", LONG_OPTIONS, NULL)) != -1) {
        if (c == '?' || c == ':') {
            const char *what = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
            fprintf(stderr, "host_stub: %s '%s'\n",
                    c == ':' ? "missing value for" : "unknown or incomplete option", what);
            usage(stderr);
            return EXIT_CONFIG;
        }
        const char *arg = optarg;
        /* --agent-config FILE as well as --agent-config=FILE; alone, the agent's default. */
        if (c == 'A' && !arg && optind < argc && argv[optind][0] != '-')
            arg = argv[optind++];
        if ((rc = apply_option(c, arg, opt)) != 0)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "host_stub: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_CONFIG;
    }
    return settle(opt);
}
