#!/usr/bin/env bash
# Video input against the ffmpeg command of the original preprocessing:
#   ffmpeg -sws_flags bicubic -i SRC -an -r FPS -vf scale=...,pad=... OUT.mp4
# (made lossless here with libx264rgb -qp 0 so pixels can be compared).
# Same frame count, frame r at time r/fps, pixels within tolerance; on real
# files from Debian packages and on synthetic clips (VP9, ffv1, mpeg4, odd
# sizes, portrait, one frame, variable frame rate, a clip with audio).
set -euo pipefail
T="$VLM_TMP/video"; mkdir -p "$T"
MEDIA=.deps/media
RES=384
ff() { ffmpeg -nostdin -v error -y "$@"; }
ref() { # SRC FPS OUT.rgb
  ff -sws_flags bicubic -i "$1" -an -threads 1 -r "$2" \
     -vf "scale='if(gt(iw,ih),$RES,-2)':'if(gt(iw,ih),-2,$RES)',pad=$RES:$RES:(ow-iw)/2:(oh-ih)/2:color='#000000'" \
     -c:v libx264rgb -qp 0 -preset ultrafast -pix_fmt rgb24 "$T/ref.mp4"
  ff -i "$T/ref.mp4" -f rawvideo -pix_fmt rgb24 "$3"
}
check() { # NAME SRC FPS [MAX_FRAMES]
  local name=$1 src=$2 fps=$3 maxf=${4:-}
  ref "$src" "$fps" "$T/$name.ref.rgb"
  if [ -n "$maxf" ]; then
    "$VLM_BIN" frames --video "$src" --fps "$fps" --max-frames "$maxf" --out "$T/$name.rgb" > "$T/$name.jsonl"
    printf '%-28s ' "$name"; /usr/bin/python3 tests/ref/video_compare.py "$T/$name.rgb" "$T/$name.jsonl" "$T/$name.ref.rgb" $RES "$fps" --max-frames "$maxf"
  else
    "$VLM_BIN" frames --video "$src" --fps "$fps" --out "$T/$name.rgb" > "$T/$name.jsonl"
    printf '%-28s ' "$name"; /usr/bin/python3 tests/ref/video_compare.py "$T/$name.rgb" "$T/$name.jsonl" "$T/$name.ref.rgb" $RES "$fps"
  fi
  rm -f "$T/$name.rgb" "$T/$name.ref.rgb"
}
# synthetic clips
ff -f lavfi -i "testsrc2=size=640x360:rate=30:duration=3" -c:v libx264 -pix_fmt yuv420p "$T/h264.mp4"
ff -f lavfi -i "testsrc2=size=320x240:rate=25:duration=2" -c:v libvpx-vp9 -b:v 200k "$T/vp9.webm"
ff -f lavfi -i "testsrc2=size=333x187:rate=24:duration=2" -c:v ffv1 "$T/odd.mkv"
ff -f lavfi -i "testsrc2=size=360x640:rate=15:duration=2" -c:v mpeg4 -q:v 3 "$T/portrait.avi"
ff -f lavfi -i "testsrc2=size=200x100:rate=1:duration=1" -frames:v 1 -c:v libx264 -pix_fmt yuv444p "$T/one.mp4"
ff -f lavfi -i "testsrc2=size=160x120:rate=10:duration=4" -vf "setpts='if(gt(N,12),N*0.1+0.7,N*0.1)/TB'" -fps_mode vfr -c:v ffv1 "$T/vfr.mkv"
ff -f lavfi -i "testsrc2=size=320x180:rate=30:duration=3" -f lavfi -i "sine=duration=3" -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$T/audio.mp4"
ff -f lavfi -i "testsrc2=size=256x256:rate=1:duration=4" -c:v ffv1 "$T/slow.mkv"
check h264-640x360-30fps "$T/h264.mp4" 2
check h264-at-5fps "$T/h264.mp4" 5
check h264-at-1fps "$T/h264.mp4" 1
check vp9 "$T/vp9.webm" 2
check ffv1-odd-333x187 "$T/odd.mkv" 2
check mpeg4-portrait "$T/portrait.avi" 2
check one-frame "$T/one.mp4" 2
check variable-frame-rate "$T/vfr.mkv" 2
check with-audio-stream "$T/audio.mp4" 2
check slower-than-fps "$T/slow.mkv" 2
# real files from Debian packages
check cockatoo-yuv444p "$MEDIA/cockatoo.mp4" 2
check realshort-29.97fps "$MEDIA/realshort.mp4" 2
check vtest-msmpeg4-first30 "$MEDIA/vtest.avi" 2 30
echo "video: all clips match ffmpeg -r"
