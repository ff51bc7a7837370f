/* The embedded kernel sources (see kernels.h). */
#include "kernels.h"

#include <stdio.h>
#include <string.h>

/* Written by build-aux/embed.sh into kernels_embed.c. */
extern const char *const pt__kernels_names[];
extern const char *const pt__kernels_texts[];
extern const int pt__kernels_count;

int pt_kernels_count(void) { return pt__kernels_count; }

const char *pt_kernels_name(int i)
{
  return i >= 0 && i < pt__kernels_count ? pt__kernels_names[i] : NULL;
}

const char *pt_kernels_text(int i)
{
  return i >= 0 && i < pt__kernels_count ? pt__kernels_texts[i] : NULL;
}

const char *pt_kernels_find(const char *name)
{
  for (int i = 0; i < pt__kernels_count; i++)
    if (strcmp(pt__kernels_names[i], name) == 0)
      return pt__kernels_texts[i];
  return NULL;
}
