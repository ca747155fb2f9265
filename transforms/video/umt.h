// Declarations of the C helpers in umt.c (package video).
#ifndef UMT_VIDEO_H
#define UMT_VIDEO_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/pixdesc.h>
#include <libavutil/imgutils.h>
#include <libavutil/time.h>
#include <libswscale/swscale.h>

typedef struct {
	int64_t deadline_us; // av_gettime_relative() limit; 0 = none
	atomic_int abort;
} umt_guard;

int umt_interrupt_cb(void *p);
umt_guard *umt_guard_new(int64_t budget_us);
void umt_guard_abort(umt_guard *g);
int umt_guard_expired(umt_guard *g);

int umt_open(AVFormatContext **pfc, const char *url, AVIOContext *pb, void *guard, const char *whitelist, int images);
int umt_disposition(AVStream *st);

void umt_flush(AVCodecContext *c);
int64_t umt_best_effort(const AVFrame *f);
int64_t umt_frame_duration(const AVFrame *f);
int umt_frame_interlaced(const AVFrame *f);
int umt_frame_damage(const AVFrame *f);
int umt_frame_key(const AVFrame *f);
int64_t umt_frame_bytes(const AVFrame *f);
int umt_index_past_end(AVStream *st, int64_t size);
int umt_index_count(AVStream *st);
int64_t umt_keyframe_before(AVStream *st, int64_t ts);
double umt_rotation(AVStream *st, int *has);
const char *umt_color_space(int v);
const char *umt_color_range(int v);
const char *umt_color_primaries(int v);
const char *umt_color_trc(int v);
const char *umt_field_order(int v);
const char *umt_profile(int codec_id, int profile);

typedef struct {
	struct SwsContext *sws;
	AVFrame *rot;
	uint8_t *buf;  // scaled RGB24 before the crop
	size_t bufcap;
	uint8_t *rbuf; // RGB24 rotation scratch (fallback path)
	size_t rbufcap;
} umt_conv;

int umt_can_transpose(int fmt);
umt_conv *umt_conv_new(void);
void umt_conv_free(umt_conv *c);
int umt_convert(umt_conv *c, const AVFrame *f, int mode, int scW, int scH, int flags,
                int cropX, int cropY, int outW, int outH, uint8_t *dst);
#endif
void umt_set_pkt_timebase(AVCodecContext *c, int num, int den);
void umt_set_skip_frame(AVCodecContext *c, int nonref);

// Custom I/O over a Go io.ReaderAt: opaque is a runtime/cgo Handle of the Go input.
AVIOContext *umt_avio_new(uintptr_t handle, int bufsize);
void umt_avio_free(AVIOContext *pb);
int umt_malloc_trim(void);
void umt_log_init(int user_level);
