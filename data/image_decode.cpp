// OpenCV-backed image decoding (see image_decode.h). libjpeg silently fills a truncated JPEG with
// grey, so JPEG input is additionally required to end its last scan with an EOI marker.
#include "data/image_decode.h"

#include <ATen/ATen.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "src/core/error.h"

#if IBLLM_WITH_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

namespace ibllm::data {

#if IBLLM_WITH_OPENCV
namespace {

// A JPEG whose last start-of-scan (FF DA) is not followed by an end-of-image (FF D9) is truncated.
bool jpeg_truncated(const std::vector<uint8_t>& b) {
  size_t last_sos = 0;
  for (size_t i = 0; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xDA) last_sos = i;
  for (size_t i = last_sos; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xD9) return false;
  return true;
}

}  // namespace
#endif

at::Tensor decode_image_file(const std::string& path, bool exif_orientation) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError("cannot open image '" + path + "'", "check that the file exists and is readable");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_image_bytes(bytes, path, exif_orientation);
}

at::Tensor decode_image_bytes(const std::vector<uint8_t>& bytes, const std::string& name,
                              bool exif_orientation) {
#if IBLLM_WITH_OPENCV
  if (bytes.empty()) throw DataError("image '" + name + "' is an empty file");
  const bool is_jpeg = bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
  if (is_jpeg && jpeg_truncated(bytes))
    throw DataError("image '" + name + "' is a truncated JPEG (no end-of-image marker)",
                    "re-download or re-encode the file");
  int flags = cv::IMREAD_COLOR;
  if (!exif_orientation) flags |= cv::IMREAD_IGNORE_ORIENTATION;
  cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<uint8_t*>(bytes.data()));
  cv::Mat bgr;
  try {
    bgr = cv::imdecode(raw, flags);
  } catch (const cv::Exception& e) {
    throw DataError("cannot decode image '" + name + "': " + e.what());
  }
  if (bgr.empty())
    throw DataError("cannot decode image '" + name + "' (not a JPEG/PNG/WebP/BMP/TIFF image, or corrupt)");
  cv::Mat rgb;
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);  // IMREAD_COLOR: gray replicated, alpha dropped
  at::Tensor out = at::empty({rgb.rows, rgb.cols, 3}, at::kByte);
  for (int y = 0; y < rgb.rows; ++y)
    std::memcpy(out.data_ptr<uint8_t>() + static_cast<size_t>(y) * rgb.cols * 3, rgb.ptr<uint8_t>(y),
                static_cast<size_t>(rgb.cols) * 3);
  return out;
#else
  (void)bytes;
  (void)name;
  (void)exif_orientation;
  throw NotBuiltError("OpenCV", "image decoding");
#endif
}

}  // namespace ibllm::data
