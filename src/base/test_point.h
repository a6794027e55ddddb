/* Named points where a test can stop the process, so that a kill -9 lands exactly there.
 *
 * A crash-safety test wants to kill a process in the middle of a particular step (while
 * an index file is half written, between saving it and committing its description), and
 * a kill timed by a sleep lands anywhere on a busy machine. With CS_TEST_STOP_AT=<name>
 * in its environment, a process raises SIGSTOP when it reaches the point of that name:
 * the test waits for the stop (waitpid with WUNTRACED), then kills it. Without the
 * variable a point costs one getenv. Points are named "<module>-<moment>". */
#ifndef CS_BASE_TEST_POINT_H
#define CS_BASE_TEST_POINT_H

void cs__test_point(const char *name);

#endif
