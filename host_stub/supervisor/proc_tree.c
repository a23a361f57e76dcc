/* The walk of a process tree (proc_tree.h), over the platform's proc_tree_*.c. */
#include "proc_tree.h"

int proc_tree_usage_of(pid_t root, proc_tree_usage *out)
{
    out->resident_bytes = 0;
    out->processes = 0;
    int64_t own = root > 0 ? proc_resident_bytes(root) : -1;
    if (own < 0)
        return -1;
    /* Breadth first, in one bounded array: entries before `next` are counted. */
    pid_t tree[PROC_TREE_MAX];
    size_t count = 1;
    tree[0] = root;
    out->resident_bytes = own;
    out->processes = 1;
    proc_children(root, tree, &count, PROC_TREE_MAX);
    for (size_t next = 1; next < count; next++) {
        int64_t bytes = proc_resident_bytes(tree[next]);
        if (bytes < 0)
            continue; /* ended meanwhile */
        out->resident_bytes += bytes;
        out->processes++;
        proc_children(tree[next], tree, &count, PROC_TREE_MAX);
    }
    return 0;
}
