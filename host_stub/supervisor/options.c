#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: host_stub [--plugins DIR] [--config FILE] [--db FILE] [--polls N]\n"
          "                 [--interval SECONDS] [--watch] [--stats] [--verbose|--quiet]\n"
          "                 [--log-format text|journald] [--allow-shared-db]\n"
          "                 [--fake-clock EPOCH_SECONDS] [--check-config] [-h|--help] [--version]\n"
          "defaults: --plugins " PA_DEFAULT_PLUGIN_DIR " --config ./host.json --db ./agent.db\n"
          "Runs until SIGINT/SIGTERM unless --polls N is given; SIGUSR1 prints pool statistics.\n"
          "--watch reloads a plugin whose .so changes, loads new ones, drops removed ones.\n"
          "--allow-shared-db lets several hosts use one database (default: one, by lock file).\n"
          "--check-config checks host.json and every enabled instance by its plugin's rules,\n"
          "  without the database or the network; exits 0 or 2.\n"
          "--fake-clock starts a virtual clock that jumps instead of sleeping (for tests).\n",
          out);
}

static void version(void)
{
    printf("host_stub %s\nplugin ABI %u.%u\nSQLite %s (built with %s)\n", PA_VERSION,
           PA_ABI_VERSION_MAJOR, PA_ABI_VERSION_MINOR, sqlite3_libversion(), SQLITE_VERSION);
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

int options_parse(int argc, char **argv, options *opt)
{
    static const struct option longopts[] = {{"plugins", required_argument, NULL, 'p'},
                                             {"config", required_argument, NULL, 'c'},
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
                                             {NULL, 0, NULL, 0}};
    *opt = (options){.plugins_dir = PA_DEFAULT_PLUGIN_DIR,
                     .config_path = "./host.json",
                     .db_path = "./agent.db",
                     .log_level = PA_LOG_INFO};
    int c;
    long v;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            opt->plugins_dir = optarg;
            break;
        case 'c':
            opt->config_path = optarg;
            break;
        case 'd':
            opt->db_path = optarg;
            break;
        case 'n':
            if (!parse_long(optarg, 1, 1000000000L, &opt->polls)) {
                fprintf(stderr, "host_stub: --polls: expected a positive integer, got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            break;
        case 'i':
            if (!parse_long(optarg, 1, 30L * 24 * 3600, &opt->interval_seconds)) {
                fprintf(stderr,
                        "host_stub: --interval: expected seconds from 1 to 2592000, "
                        "got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            break;
        case 'w':
            opt->watch = true;
            break;
        case 's':
            opt->stats = true;
            break;
        case 'v':
            opt->log_level = PA_LOG_DEBUG;
            break;
        case 'q':
            opt->log_level = PA_LOG_WARN;
            break;
        case 'f':
            if (!parse_long(optarg, 0, 253402300799L, &v)) {
                fprintf(stderr,
                        "host_stub: --fake-clock: expected seconds since the epoch, "
                        "got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            opt->virtual_clock = true;
            opt->virtual_start_ms = (int64_t)v * 1000;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            version();
            return -1;
        case 'S':
            opt->allow_shared_db = true;
            break;
        case 'C':
            opt->check_config = true;
            break;
        case 'L':
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "journald") != 0) {
                fprintf(stderr, "host_stub: --log-format: expected text or journald, got '%s'\n",
                        optarg);
                return EXIT_CONFIG;
            }
            opt->journald = strcmp(optarg, "journald") == 0;
            break;
        default:
            usage(stderr);
            return EXIT_CONFIG;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "host_stub: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_CONFIG;
    }
    return 0;
}
