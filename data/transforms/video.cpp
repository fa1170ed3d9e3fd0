// ImageBind video pipeline (see video.h). Only the frames the clips need are retrieved from the
// decoder (sequential grab, retrieve on demand), so long videos do not fill memory.
#include "data/transforms/video.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "src/core/error.h"

#if IBLLM_WITH_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>
#include <opencv2/videoio/registry.hpp>
#endif

namespace ibllm::data {

at::Tensor short_side_scale(const at::Tensor& video, int64_t size) {
  // (C,T,H,W) -> (C,T,H',W'); pytorchvideo short_side_scale: floor((long/short) * size)
  const int64_t h = video.size(2), w = video.size(3);
  int64_t nh = size, nw = size;
  if (w < h) nh = static_cast<int64_t>(std::floor(static_cast<double>(h) / w * size));
  else nw = static_cast<int64_t>(std::floor(static_cast<double>(w) / h * size));
  return at::upsample_bilinear2d(video, {nh, nw}, /*align_corners=*/false);
}

at::Tensor uniform_crop(const at::Tensor& video, int64_t size, int64_t idx) {
  const int64_t h = video.size(2), w = video.size(3);
  if (h < size || w < size) throw DataError("video frame smaller than the crop size");
  int64_t y = (h - size + 1) / 2, x = (w - size + 1) / 2;  // ceil((L - size) / 2)
  if (h > w) {
    if (idx == 0) y = 0;
    if (idx == 2) y = h - size;
  } else {
    if (idx == 0) x = 0;
    if (idx == 2) x = w - size;
  }
  return video.narrow(2, y, size).narrow(3, x, size);
}

std::vector<int64_t> uniform_temporal_indices(int64_t num_frames, int64_t n) {
  at::Tensor idx = at::linspace(0, static_cast<double>(num_frames - 1), n).to(at::kLong);
  return std::vector<int64_t>(idx.data_ptr<int64_t>(), idx.data_ptr<int64_t>() + n);
}

std::vector<at::Tensor> transform_video_clip(const at::Tensor& frames, const VideoTransformConfig& c) {
  // (C,T,H,W) in [0,255] -> num_crops x (C,n,size,size)
  const auto idx = uniform_temporal_indices(frames.size(1), c.frames_per_clip);
  at::Tensor v = frames.index_select(1, at::tensor(idx, at::kLong)).to(at::kFloat) / 255.0;
  v = short_side_scale(v, c.size);
  at::Tensor m = at::tensor(std::vector<float>(c.mean.begin(), c.mean.end())).view({3, 1, 1, 1});
  at::Tensor s = at::tensor(std::vector<float>(c.std.begin(), c.std.end())).view({3, 1, 1, 1});
  v = (v - m) / s;
  std::vector<at::Tensor> out;
  for (int64_t k = 0; k < c.num_crops; ++k) {
    // with fewer than 3 crops the reference order is still [left/top, centre, right/bottom]
    out.push_back(uniform_crop(v, c.size, c.num_crops == 1 ? 1 : k).contiguous());
  }
  return out;
}

VideoTransform::VideoTransform(VideoTransformConfig config) : config_(std::move(config)) {}

at::Tensor VideoTransform::load(const std::string& path) const {
#if IBLLM_WITH_OPENCV
  if (!std::filesystem::exists(path))
    throw DataError("video '" + path + "' does not exist", "check the path");
  // A file is read through FFmpeg when OpenCV has it: CAP_ANY would, for a file FFmpeg rejects,
  // go on to probe cameras (GStreamer, libgphoto2/libusb), which is slow and leaks in libgphoto2.
  const int api = cv::videoio_registry::hasBackend(cv::CAP_FFMPEG) ? cv::CAP_FFMPEG : cv::CAP_ANY;
  cv::VideoCapture cap(path, api);
  if (!cap.isOpened()) throw DataError("cannot open video '" + path + "'", "check the file and its codec");
  const double fps = cap.get(cv::CAP_PROP_FPS);
  const auto count = static_cast<int64_t>(cap.get(cv::CAP_PROP_FRAME_COUNT));
  if (!(fps > 0) || count <= 0) throw DataError("video '" + path + "' reports no frames or no frame rate");
  const double duration = static_cast<double>(count) / fps;
  const double max_start = std::max(duration - config_.clip_duration, 0.0);
  const double step = max_start / static_cast<double>(std::max<int64_t>(config_.clips_per_video - 1, 1));
  // per clip, the frame range [first, last] whose timestamps i/fps lie in [start, end]
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::map<int64_t, at::Tensor> needed;
  for (int64_t k = 0; k < config_.clips_per_video; ++k) {
    const double start = step * static_cast<double>(k), end = start + config_.clip_duration;
    const auto first = static_cast<int64_t>(std::ceil(start * fps - 1e-9));
    const int64_t last = std::min(static_cast<int64_t>(std::floor(end * fps + 1e-9)), count - 1);
    if (first > last) throw DataError("video '" + path + "': clip " + std::to_string(k) + " has no frames");
    ranges.emplace_back(first, last);
    for (int64_t i : uniform_temporal_indices(last - first + 1, config_.frames_per_clip))
      needed[first + i] = at::Tensor();
  }
  int64_t pos = 0;
  for (auto& [index, frame] : needed) {
    for (; pos < index; ++pos)
      if (!cap.grab()) break;
    cv::Mat bgr, rgb;
    if (pos != index || !cap.read(bgr) || bgr.empty())
      throw DataError("video '" + path + "' ended before frame " + std::to_string(index) + " of " +
                      std::to_string(count) + " (truncated or wrong frame count)");
    ++pos;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    at::Tensor t = at::empty({rgb.rows, rgb.cols, 3}, at::kByte);
    for (int y = 0; y < rgb.rows; ++y)
      std::memcpy(t.data_ptr<uint8_t>() + static_cast<size_t>(y) * rgb.cols * 3, rgb.ptr<uint8_t>(y),
                  static_cast<size_t>(rgb.cols) * 3);
    frame = t.permute({2, 0, 1});  // (C,H,W)
  }
  std::vector<at::Tensor> out;
  for (const auto& [first, last] : ranges) {
    std::vector<at::Tensor> frames;
    for (int64_t i : uniform_temporal_indices(last - first + 1, config_.frames_per_clip))
      frames.push_back(needed.at(first + i));
    // the clip holds only the subsampled frames; re-subsampling n of n is the identity
    for (auto& crop : transform_video_clip(at::stack(frames, 1), config_)) out.push_back(crop);
  }
  return at::stack(out);  // (clips*crops, C, n, size, size)
#else
  (void)path;
  throw NotBuiltError("OpenCV", "video decoding");
#endif
}

}  // namespace ibllm::data
