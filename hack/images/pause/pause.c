/* The pod sandbox's process: holds the pod's namespaces and reaps nothing but itself.
 * Built statically (gcc -static) into a FROM-scratch image; containerd's sandbox_image. */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  for (;;) pause();
  return 0;
}
