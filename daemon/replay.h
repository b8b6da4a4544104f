/* replay.h: `opswatch replay`: the engine over a JSON Lines file. */
#ifndef OW_REPLAY_H
#define OW_REPLAY_H

/** Run `replay --config FILE --input FILE|- --out DIR [--close-all]`. @argv[0] is "replay".
 * @returns the exit code: 0 (even with dead letters), 1 bad usage or config, 2 unreadable
 * input or unwritable output. */
int ow_replay_main(int argc, char **argv);

#endif
