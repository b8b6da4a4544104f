/* version.h: the release, written into every snapshot's "producer". */
#ifndef OW_VERSION_H
#define OW_VERSION_H

#define OW_VERSION "0.1.0"

#endif
