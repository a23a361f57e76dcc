/*
 * The task stream on stdout, written without blocking (task_output.c). Used
 * by the supervisor's loop only, from its one thread.
 */
#ifndef SUPERVISOR_TASK_OUTPUT_H
#define SUPERVISOR_TASK_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct task_output task_output;

/* A queue of at most limit bytes in front of fd, made non-blocking; NULL when out of memory. */
task_output *task_output_new(int fd, size_t limit);
/* A task_sink's line: queued (a newline added) and written as far as fd takes it. */
void task_output_line(void *arg, const char *line, size_t len);
/* Writes what waits, as far as fd takes it without blocking. NULL: nothing. */
void task_output_flush(task_output *o);
/* The fd to wait on for POLLOUT while lines wait, or -1. */
int task_output_waiting_fd(const task_output *o);
/* True once the reader closed stdout (or o is NULL): nothing more is printed. */
bool task_output_closed(const task_output *o);
/* Lines not printed because the reader stalled with the queue full. */
uint64_t task_output_dropped(const task_output *o);
/*
 * Writes what waits until deadline_ns at most, logs what is left, restores
 * fd's flags and frees o. NULL: nothing.
 */
void task_output_finish(task_output *o, int64_t deadline_ns);

#endif
