/* The node tier's pod sandbox ("pause") process, built here because no registry is reachable:
 * it holds the pod's namespaces and does nothing else until SIGTERM/SIGINT. */
#include <signal.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

int main(void) {
  signal(SIGTERM, stop);
  signal(SIGINT, stop);
  for (;;) pause();
}
