/* pipetune: entry point (placeholder until the command table lands). */
#include <stdio.h>

int main(void) {
  puts("pipetune");
  return 0;
}
