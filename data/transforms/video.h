// ImageBind video input (spec §1.4.4): 5 clips of 2 s (constant-clips sampler), 2 frames per
// clip (first and last: UniformTemporalSubsample(2)), /255, ShortSideScale(224) = bilinear
// interpolate without antialias (floor((long/short)*224)), CLIP normalisation, 3 spatial crops
// along the longer axis -> (15,3,2,224,224). Decoding uses OpenCV VideoCapture (the reference uses
// pyav: codecs may round pixels differently); frames are timed as index/fps and a clip keeps the
// frames with start <= t <= end, as pytorchvideo's pyav decoder does.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ibllm::data {

struct VideoTransformConfig {
  int64_t size = 224;
  double clip_duration = 2.0;
  int64_t clips_per_video = 5;
  int64_t frames_per_clip = 2;
  int64_t num_crops = 3;
  std::vector<double> mean = {0.48145466, 0.4578275, 0.40821073};
  std::vector<double> std = {0.26862954, 0.26130258, 0.27577711};
};

// (C,T,H,W) float: shorter side -> size with F.interpolate(bilinear, align_corners=False).
at::Tensor short_side_scale(const at::Tensor& video, int64_t size);
// ImageBind uniform_crop: (C,T,H,W) -> (C,T,size,size); idx 0 = left/top, 1 = centre (ceil),
// 2 = right/bottom along the longer axis (the other axis centred).
at::Tensor uniform_crop(const at::Tensor& video, int64_t size, int64_t spatial_idx);
// indices long(linspace(0, T-1, n)) of a clip with T frames.
std::vector<int64_t> uniform_temporal_indices(int64_t num_frames, int64_t n);
// One clip of raw frames (C,T,H,W) in [0,255] -> num_crops tensors (C,n,size,size), normalised.
std::vector<at::Tensor> transform_video_clip(const at::Tensor& frames, const VideoTransformConfig& c);

class VideoTransform {
 public:
  explicit VideoTransform(VideoTransformConfig config);
  // -> (clips*crops, 3, frames_per_clip, size, size). DataError for unreadable/empty videos;
  // NotBuiltError without OpenCV.
  at::Tensor load(const std::string& path) const;

 private:
  VideoTransformConfig config_;
};

}  // namespace ibllm::data
