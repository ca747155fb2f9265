#!/usr/bin/env bash
# Regenerates the still-image fixtures of transforms/video (SampleImage tests) and their
# manifest.jsonl, with the ffmpeg CLI (FFmpeg 5.1, Debian 12) from frames of the video corpus.
#
#   transforms/video/testdata/images/gen.sh        # writes next to this script
#
# Every fixture is a few KB (all together < 100 KB); they are committed so that tests pass
# from a plain clone. Each good entry carries the sha256 of the reference rendering: the same
# ffmpeg command the video corpus uses for its frames (short side scaled to 224, bicubic,
# centre crop 224×224, rgb24), recorded verbatim in the entry's "cmd".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
V="${UMT_VIDEOS:-$root/testdata/videos}/synthetic"
cd "$here"
rm -f ./*.jpg ./*.png ./*.webp ./*.gif ./*.bmp manifest.jsonl

ff() { ffmpeg -nostdin -v error -y "$@"; }
bx=(-fflags +bitexact -flags:v +bitexact) # no encoder version strings in the files
post="format=rgb24,lutrgb=r='bitand(val,240)':g='bitand(val,240)':b='bitand(val,240)'" # fewer colours: smaller PNGs

# Good images (expect ok).
ff -i "$V/h264_1frame_320x240.mp4" -frames:v 1 -pix_fmt yuvj420p -q:v 6 "${bx[@]}" jpeg_320x240_yuvj420p.jpg
ff -ss 0.5 -i "$V/vp9_odd_321x241_25fps.webm" -frames:v 1 -vf "$post" -pix_fmt rgb24 -pred mixed "${bx[@]}" png_odd_321x241_rgb24.png
ff -i "$V/h264_1frame_320x240.mp4" -frames:v 1 \
  -vf "scale=120:90,$post,format=rgba,geq=r='r(X\,Y)':g='g(X\,Y)':b='b(X\,Y)':a='255*X/W'" \
  -pix_fmt rgba "${bx[@]}" png_alpha_120x90_rgba.png
ff -i "$V/h264_baseline_640x360_25fps_faststart.mp4" -frames:v 1 -vf scale=200:112 -c:v libwebp -quality 60 "${bx[@]}" webp_200x112_yuv420p.webp
ff -i "$V/h264_tiny_64x48_10fps.mp4" -frames:v 3 "${bx[@]}" gif_3frames_64x48.gif # SampleImage takes the first frame
ff -i "$V/h264_tiny_64x48_10fps.mp4" -frames:v 1 -pix_fmt bgr24 "${bx[@]}" bmp_64x48_bgr24.bmp
ff -i "$V/h264_tiny_64x48_10fps.mp4" -frames:v 1 -pix_fmt pal8 "${bx[@]}" png_64x48_pal8.png
ff -i "$V/h264_tiny_64x48_10fps.mp4" -frames:v 1 -pix_fmt gray "${bx[@]}" png_64x48_gray.png
ff -i "$V/h264_tiny_64x48_10fps.mp4" -frames:v 1 -c:v libwebp -lossless 1 "${bx[@]}" webp_lossless_64x48_argb.webp

# Bad images.
head -c 4800 jpeg_320x240_yuvj420p.jpg >truncated_half.jpg # cut inside the entropy-coded data
: >empty.png
cp png_alpha_120x90_rgba.png corrupt_idat.png # 64 bytes of the zlib stream overwritten
off=$(($(grep -bao IDAT corrupt_idat.png | head -1 | cut -d: -f1) + 40))
head -c 64 /dev/zero | tr '\0' '\377' | dd of=corrupt_idat.png bs=1 seek="$off" conv=notrunc status=none
printf 'this is a text file, not an image\n' >text_renamed.jpg

ref='scale=w='"'"'if(lte(iw,ih),224,-1)'"'"':h='"'"'if(lte(iw,ih),-1,224)'"'"':flags=bicubic,crop=224:224,format=rgb24'
good() { # path
  local p=$1 w h pf sha
  IFS=, read -r w h pf < <(ffprobe -v error -select_streams v:0 -show_entries stream=width,height,pix_fmt -of csv=p=0 "$p")
  sha=$(ffmpeg -nostdin -v error -i "$p" -frames:v 1 -vf "$ref" -f rawvideo -pix_fmt rgb24 pipe:1 | sha256sum | cut -d' ' -f1)
  local cmd="ffmpeg -nostdin -v error -i $p -frames:v 1 -vf '$ref' -f rawvideo -pix_fmt rgb24 pipe:1"
  cmd=${cmd//\'/\\u0027}
  printf '{"path": "%s", "expect": "ok", "width": %d, "height": %d, "pix_fmt": "%s", "bytes": %d, "rgb24_224_sha256": "%s", "cmd": "%s"}\n' \
    "$p" "$w" "$h" "$pf" "$(stat -c %s "$p")" "$sha" "$cmd" >>manifest.jsonl
}
bad() { # path class why
  printf '{"path": "%s", "expect": "%s", "width": 0, "height": 0, "bytes": %d, "why": "%s"}\n' \
    "$1" "$2" "$(stat -c %s "$1")" "$3" >>manifest.jsonl
}
for p in jpeg_320x240_yuvj420p.jpg png_odd_321x241_rgb24.png png_alpha_120x90_rgba.png \
  webp_200x112_yuv420p.webp gif_3frames_64x48.gif bmp_64x48_bgr24.bmp png_64x48_pal8.png \
  png_64x48_gray.png webp_lossless_64x48_argb.webp; do
  good "$p"
done
bad truncated_half.jpg truncated "the first 4800 bytes of jpeg_320x240_yuvj420p.jpg: no EOI marker"
bad empty.png empty "0 bytes"
bad corrupt_idat.png corrupt "png_alpha_120x90_rgba.png with 64 bytes of its zlib stream overwritten"
bad text_renamed.jpg not_media "a text file with a .jpg name"
ls -l "$here"
