// C helpers of package video; see cgo.go for why they exist.
#include "umt.h"

int umt_interrupt_cb(void *p) {
	umt_guard *g = (umt_guard *)p;
	if (atomic_load(&g->abort)) return 1;
	if (g->deadline_us > 0 && av_gettime_relative() > g->deadline_us) return 1;
	return 0;
}

umt_guard *umt_guard_new(int64_t budget_us) {
	umt_guard *g = calloc(1, sizeof(umt_guard));
	if (!g) return NULL;
	if (budget_us > 0) g->deadline_us = av_gettime_relative() + budget_us;
	atomic_init(&g->abort, 0);
	return g;
}
void umt_guard_abort(umt_guard *g) { atomic_store(&g->abort, 1); }
int umt_guard_expired(umt_guard *g) { return umt_interrupt_cb(g); }

void umt_flush(AVCodecContext *c) { avcodec_flush_buffers(c); }
int64_t umt_best_effort(const AVFrame *f) { return f->best_effort_timestamp; }
int64_t umt_frame_duration(const AVFrame *f) { return f->pkt_duration; }
int umt_frame_interlaced(const AVFrame *f) { return f->interlaced_frame; }
// umt_frame_damage is the frame's FF_DECODE_ERROR_* bits (decode_error_flags), with bit 16 set
// when the decoder marked it AV_FRAME_FLAG_CORRUPT: 0 for a frame decoded from intact data.
int umt_frame_damage(const AVFrame *f) {
	return f->decode_error_flags | ((f->flags & AV_FRAME_FLAG_CORRUPT) ? 1 << 16 : 0);
}
int umt_frame_key(const AVFrame *f) { return f->key_frame; }
int64_t umt_frame_bytes(const AVFrame *f) {
	int n = av_image_get_buffer_size(f->format, f->width, f->height, 1);
	return n < 0 ? (int64_t)f->width * f->height * 3 : n;
}

// umt_index_past_end counts index entries of st whose data lies beyond size bytes.
int umt_index_past_end(AVStream *st, int64_t size) {
	int n = avformat_index_get_entries_count(st), bad = 0;
	for (int i = 0; i < n; i++) {
		const AVIndexEntry *e = avformat_index_get_entry(st, i);
		if (e && e->pos >= 0 && e->pos + e->size > size) bad++;
	}
	return bad;
}
int umt_index_count(AVStream *st) { return avformat_index_get_entries_count(st); }
// umt_keyframe_before returns the timestamp of the last keyframe index entry at or before ts,
// or INT64_MIN when there is none.
int64_t umt_keyframe_before(AVStream *st, int64_t ts) {
	int i = av_index_search_timestamp(st, ts, AVSEEK_FLAG_BACKWARD);
	if (i < 0) return INT64_MIN;
	const AVIndexEntry *e = avformat_index_get_entry(st, i);
	return e ? e->timestamp : INT64_MIN;
}

// umt_rotation returns av_display_rotation_get of the stream's display matrix (ffprobe's
// "rotation", degrees counter-clockwise) and sets *has when a matrix exists.
double umt_rotation(AVStream *st, int *has) {
	size_t sz = 0;
	uint8_t *sd = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &sz);
	*has = 0;
	if (!sd || sz < 9 * 4) return 0;
	double r = av_display_rotation_get((const int32_t *)sd);
	if (r != r) return 0; // NaN: degenerate matrix
	*has = 1;
	return r;
}

const char *umt_color_space(int v) { return av_color_space_name(v); }
const char *umt_color_range(int v) { return av_color_range_name(v); }
const char *umt_color_primaries(int v) { return av_color_primaries_name(v); }
const char *umt_color_trc(int v) { return av_color_transfer_name(v); }
const char *umt_field_order(int v) {
	switch (v) {
	case AV_FIELD_PROGRESSIVE: return "progressive";
	case AV_FIELD_TT: return "tt";
	case AV_FIELD_BB: return "bb";
	case AV_FIELD_TB: return "tb";
	case AV_FIELD_BT: return "bt";
	}
	return "";
}
const char *umt_profile(int codec_id, int profile) { return avcodec_profile_name(codec_id, profile); }

// ---- frame conversion ----

// transpose_plane rotates a w×h plane of step-byte pixels. mode 1: 90° clockwise
// (ffmpeg transpose=clock), 2: 90° counter-clockwise (transpose=cclock), 3: 180°.
static void transpose_plane(const uint8_t *src, int sls, uint8_t *dst, int dls, int w, int h, int step, int mode) {
	if (mode == 3) {
		for (int y = 0; y < h; y++) {
			const uint8_t *s = src + (int64_t)(h - 1 - y) * sls;
			uint8_t *d = dst + (int64_t)y * dls;
			for (int x = 0; x < w; x++) memcpy(d + x * step, s + (w - 1 - x) * step, step);
		}
		return;
	}
	// output is h wide, w tall
	for (int y = 0; y < w; y++) {
		uint8_t *d = dst + (int64_t)y * dls;
		for (int x = 0; x < h; x++) {
			const uint8_t *s;
			if (mode == 1) s = src + (int64_t)(h - 1 - x) * sls + y * step; // out[y][x] = in[h-1-x][y]
			else s = src + (int64_t)x * sls + (w - 1 - y) * step;           // out[y][x] = in[x][w-1-y]
			memcpy(d + x * step, s, step);
		}
	}
}

// umt_can_transpose says whether a frame of this format can be rotated plane by plane (what
// libavfilter's transpose accepts: equal chroma subsampling in x and y, no palette/bitstream).
int umt_can_transpose(int fmt) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fmt);
	if (!d) return 0;
	if (d->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM | AV_PIX_FMT_FLAG_HWACCEL)) return 0;
	if (d->log2_chroma_w != d->log2_chroma_h) return 0;
	return 1;
}

// umt_rotate_frame writes src rotated by mode into dst (allocated here; caller unrefs).
static int umt_rotate_frame(const AVFrame *src, AVFrame *dst, int mode) {
	const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(src->format);
	if (!d) return AVERROR(EINVAL);
	int w = src->width, h = src->height;
	dst->format = src->format;
	dst->width = mode == 3 ? w : h;
	dst->height = mode == 3 ? h : w;
	int ret = av_frame_get_buffer(dst, 0);
	if (ret < 0) return ret;
	ret = av_frame_copy_props(dst, src);
	if (ret < 0) return ret;
	int step[4] = {0}, shift[4] = {0};
	for (int c = 0; c < d->nb_components; c++) {
		int p = d->comp[c].plane;
		if (d->comp[c].step > step[p]) step[p] = d->comp[c].step;
		if ((c == 1 || c == 2) && !(d->flags & AV_PIX_FMT_FLAG_RGB)) shift[p] = 1;
	}
	for (int p = 0; p < 4 && src->data[p]; p++) {
		if (!step[p]) continue;
		int pw = shift[p] ? AV_CEIL_RSHIFT(w, d->log2_chroma_w) : w;
		int ph = shift[p] ? AV_CEIL_RSHIFT(h, d->log2_chroma_h) : h;
		transpose_plane(src->data[p], src->linesize[p], dst->data[p], dst->linesize[p], pw, ph, step[p], mode);
	}
	return 0;
}


umt_conv *umt_conv_new(void) { return calloc(1, sizeof(umt_conv)); }
void umt_conv_free(umt_conv *c) {
	if (!c) return;
	sws_freeContext(c->sws);
	av_frame_free(&c->rot);
	av_free(c->buf);
	av_free(c->rbuf);
	free(c);
}

static int grow(uint8_t **p, size_t *cap, size_t n) {
	if (*cap >= n) return 0;
	av_free(*p);
	*p = av_malloc(n);
	*cap = *p ? n : 0;
	return *p ? 0 : AVERROR(ENOMEM);
}

// umt_convert renders frame f into dst (outW×outH RGB24, tightly packed). The frame is
// rotated by mode (0 none), scaled once by swscale to scW×scH RGB24 with the given flags and
// the frame's colour matrix/range (as vf_scale's in_color_matrix=auto does), then the window
// at (cropX, cropY) of size outW×outH is copied out.
int umt_convert(umt_conv *c, const AVFrame *f, int mode, int scW, int scH, int flags,
                       int cropX, int cropY, int outW, int outH, uint8_t *dst) {
	const AVFrame *src = f;
	int rgbRotate = 0;
	if (mode) {
		if (umt_can_transpose(f->format)) {
			if (!c->rot) c->rot = av_frame_alloc();
			if (!c->rot) return AVERROR(ENOMEM);
			av_frame_unref(c->rot);
			int ret = umt_rotate_frame(f, c->rot, mode);
			if (ret < 0) return ret;
			src = c->rot;
		} else {
			rgbRotate = mode;
		}
	}
	int sw = scW, sh = scH;
	if (rgbRotate == 1 || rgbRotate == 2) { sw = scH; sh = scW; }
	c->sws = sws_getCachedContext(c->sws, src->width, src->height, src->format, sw, sh,
	                              AV_PIX_FMT_RGB24, flags, NULL, NULL, NULL);
	if (!c->sws) return AVERROR(EINVAL);
	int *inv_table, *table, in_full, out_full, brightness, contrast, saturation;
	if (sws_getColorspaceDetails(c->sws, &inv_table, &in_full, &table, &out_full,
	                             &brightness, &contrast, &saturation) >= 0) {
		int cs = src->colorspace;
		if (cs < 1 || cs > 10 || cs == 8) cs = AVCOL_SPC_BT470BG;
		const int *coefs = sws_getCoefficients(cs);
		if (src->color_range != AVCOL_RANGE_UNSPECIFIED) in_full = src->color_range == AVCOL_RANGE_JPEG;
		sws_setColorspaceDetails(c->sws, coefs, in_full, table, out_full, brightness, contrast, saturation);
	}
	size_t need = (size_t)sw * sh * 3;
	if (grow(&c->buf, &c->bufcap, need) < 0) return AVERROR(ENOMEM);
	uint8_t *dsts[4] = {c->buf, NULL, NULL, NULL};
	int dstls[4] = {sw * 3, 0, 0, 0};
	int ret = sws_scale(c->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height, dsts, dstls);
	if (ret <= 0) return ret < 0 ? ret : AVERROR(EINVAL);
	const uint8_t *img = c->buf;
	if (rgbRotate) {
		if (grow(&c->rbuf, &c->rbufcap, need) < 0) return AVERROR(ENOMEM);
		transpose_plane(c->buf, sw * 3, c->rbuf, scW * 3, sw, sh, 3, rgbRotate);
		img = c->rbuf;
	}
	for (int y = 0; y < outH; y++)
		memcpy(dst + (size_t)y * outW * 3, img + ((size_t)(y + cropY) * scW + cropX) * 3, (size_t)outW * 3);
	return 0;
}

// umt_open opens url (or the custom I/O pb). images makes the image2 demuxer read the name
// literally (pattern_type=none): a still image's file name may contain % or glob characters.
int umt_open(AVFormatContext **pfc, const char *url, AVIOContext *pb, void *guard, const char *whitelist, int images) {
	AVFormatContext *fc = avformat_alloc_context();
	if (!fc) return AVERROR(ENOMEM);
	fc->interrupt_callback.callback = umt_interrupt_cb;
	fc->interrupt_callback.opaque = guard;
	if (pb) fc->pb = pb;
	AVDictionary *opts = NULL;
	av_dict_set(&opts, "protocol_whitelist", whitelist, 0);
	if (images) av_dict_set(&opts, "pattern_type", "none", 0);
	int ret = avformat_open_input(&fc, url, NULL, &opts); // frees fc on failure
	av_dict_free(&opts);
	*pfc = fc;
	return ret;
}

int umt_disposition(AVStream *st) { return st->disposition; }

void umt_set_pkt_timebase(AVCodecContext *c, int num, int den) {
	c->pkt_timebase.num = num;
	c->pkt_timebase.den = den;
}

// umt_set_skip_frame makes the decoder drop non-reference frames (AVDISCARD_NONREF) or
// decode everything (AVDISCARD_DEFAULT).
void umt_set_skip_frame(AVCodecContext *c, int nonref) {
	c->skip_frame = nonref ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
}

// ---- custom I/O ----
// go-astiav v0.16.0's AllocIOContext never removes its callback registry entry, which keeps
// every reader (and its bytes) alive forever; these trampolines call our own exported Go
// functions with a runtime/cgo Handle instead, deleted when the input closes.
#include "_cgo_export.h"

static int umt_read_cb(void *opaque, uint8_t *buf, int size) {
	return umtGoRead((uintptr_t)opaque, buf, size);
}
static int64_t umt_seek_cb(void *opaque, int64_t offset, int whence) {
	return umtGoSeek((uintptr_t)opaque, offset, whence);
}

AVIOContext *umt_avio_new(uintptr_t handle, int bufsize) {
	uint8_t *buf = av_malloc(bufsize);
	if (!buf) return NULL;
	AVIOContext *pb = avio_alloc_context(buf, bufsize, 0, (void *)handle, umt_read_cb, NULL, umt_seek_cb);
	if (!pb) av_free(buf);
	return pb;
}

void umt_avio_free(AVIOContext *pb) {
	if (!pb) return;
	av_freep(&pb->buffer); // FFmpeg may have replaced the buffer we allocated
	avio_context_free(&pb);
}

#include <malloc.h>
int umt_malloc_trim(void) { return malloc_trim(0); }

// ---- FFmpeg log ----
// Error-level messages of a demuxer or decoder we opened go to Go (umtGoLog) keyed by the
// context pointer, so a call learns what FFmpeg complained about while reading its input;
// messages at or above the level the user asked for (UMT_FFMPEG_LOG) go to stderr as usual.
static int umt_user_level = AV_LOG_QUIET;

static void umt_log_cb(void *avcl, int level, const char *fmt, va_list vl) {
	if (level <= AV_LOG_ERROR && avcl) {
		char line[512];
		va_list vl2;
		va_copy(vl2, vl);
		vsnprintf(line, sizeof line, fmt, vl2);
		va_end(vl2);
		umtGoLog((uintptr_t)avcl, line);
	}
	if (level <= umt_user_level) av_log_default_callback(avcl, level, fmt, vl);
}

void umt_log_init(int user_level) {
	umt_user_level = user_level;
	av_log_set_level(user_level > AV_LOG_ERROR ? user_level : AV_LOG_ERROR);
	av_log_set_callback(umt_log_cb);
}
