/* snapshot_md.h: a snapshot rendered for people (the Panel's Markdown). */
#ifndef OW_SNAPSHOT_MD_H
#define OW_SNAPSHOT_MD_H

#include <jansson.h>

/** Render snapshot @snap (borrowed) as Markdown; @prev (borrowed, may be NULL) is the previous
 * revision of the same window, whose differences are listed. @returns a new string the caller
 * frees. */
char *ow_snapshot_markdown(const json_t *snap, const json_t *prev);

#endif
