// Pillow's Resample.c algorithm restated (see image_resize.h). Coefficients are computed in double,
// normalised to sum 1, converted to fixed point with round-half-away-from-zero; each output is
// (2^21 + sum(pixel * k)) >> 22 clamped to [0,255].
#include "data/image_resize.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "src/core/error.h"

namespace ibllm::data {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

struct Coeffs {
  int ksize = 0;
  std::vector<int> xmin, count;  // per output pixel: first source pixel and number of taps
  std::vector<int32_t> k;        // out_size * ksize fixed-point weights
};

Coeffs precompute(int in_size, double in0, double in1, int out_size) {
  constexpr double support_base = 2.0;  // bicubic filter support
  const double scale = (in1 - in0) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = support_base * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);  // C truncation, as Pillow
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      c.k[static_cast<size_t>(xx) * c.ksize + x] = static_cast<int32_t>(
          v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int64_t acc) {
  const int64_t v = acc >> kPrecisionBits;  // arithmetic shift = floor, as Pillow's int32 shift
  return static_cast<uint8_t>(std::min<int64_t>(255, std::max<int64_t>(0, v)));
}

// src rows [row0, row0 + rows) of a (H,W,C) image -> (rows, out_w, C)
void horizontal(const uint8_t* src, int W, int C, int row0, int rows, const Coeffs& c, int out_w,
                uint8_t* dst) {
  for (int y = 0; y < rows; ++y) {
    const uint8_t* line = src + static_cast<size_t>(row0 + y) * W * C;
    uint8_t* out = dst + static_cast<size_t>(y) * out_w * C;
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      for (int ch = 0; ch < C; ++ch) {
        int64_t acc = int64_t{1} << (kPrecisionBits - 1);
        for (int x = 0; x < c.count[xx]; ++x)
          acc += static_cast<int64_t>(line[(c.xmin[xx] + x) * C + ch]) * k[x];
        out[xx * C + ch] = clip8(acc);
      }
    }
  }
}

// (H,W,C) -> (out_h,W,C); coefficient row offsets are relative to `src`'s first row
void vertical(const uint8_t* src, int W, int C, const Coeffs& c, int row_shift, int out_h,
              uint8_t* dst) {
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    const int ymin = c.xmin[yy] - row_shift;
    uint8_t* out = dst + static_cast<size_t>(yy) * W * C;
    for (int xx = 0; xx < W * C; ++xx) {
      int64_t acc = int64_t{1} << (kPrecisionBits - 1);
      for (int y = 0; y < c.count[yy]; ++y)
        acc += static_cast<int64_t>(src[static_cast<size_t>(ymin + y) * W * C + xx]) * k[y];
      out[xx] = clip8(acc);
    }
  }
}

}  // namespace

at::Tensor resize_bicubic_pil(const at::Tensor& img, int64_t out_w, int64_t out_h) {
  return resize_bicubic_pil(img, out_w, out_h,
                            {0.0, 0.0, static_cast<double>(img.dim() == 3 ? img.size(1) : 0),
                             static_cast<double>(img.dim() == 3 ? img.size(0) : 0)});
}

at::Tensor resize_bicubic_pil(const at::Tensor& img_in, int64_t out_w, int64_t out_h,
                              const ResizeBox& box) {
  if (img_in.dim() != 3 || img_in.scalar_type() != at::kByte)
    throw DataError("bicubic resize expects a uint8 (H,W,C) image");
  if (out_w < 1 || out_h < 1) throw DataError("bicubic resize: output size must be positive");
  const int H = static_cast<int>(img_in.size(0)), W = static_cast<int>(img_in.size(1));
  const int C = static_cast<int>(img_in.size(2));
  if (box[0] < 0 || box[1] < 0 || box[2] > W || box[3] > H || box[2] <= box[0] || box[3] <= box[1])
    throw DataError("bicubic resize: box outside the " + std::to_string(W) + "x" +
                    std::to_string(H) + " image");
  at::Tensor img = img_in.contiguous();
  const int ow = static_cast<int>(out_w), oh = static_cast<int>(out_h);
  // Pillow: Image.resize returns a copy when nothing changes
  const bool need_h = ow != W || box[0] != 0 || box[2] != ow;
  const bool need_v = oh != H || box[1] != 0 || box[3] != oh;
  Coeffs ch = precompute(W, box[0], box[2], ow);
  Coeffs cv = precompute(H, box[1], box[3], oh);
  // Only the source rows the vertical pass reads go through the horizontal pass.
  const int first = cv.xmin[0];
  const int last = cv.xmin[oh - 1] + cv.count[oh - 1];
  at::Tensor cur = img;
  int row_shift = 0;
  if (need_h) {
    at::Tensor tmp = at::empty({last - first, ow, C}, img.options());
    horizontal(img.data_ptr<uint8_t>(), W, C, first, last - first, ch, ow, tmp.data_ptr<uint8_t>());
    cur = tmp;
    row_shift = first;
  }
  if (need_v) {
    at::Tensor out = at::empty({oh, cur.size(1), C}, img.options());
    vertical(cur.data_ptr<uint8_t>(), static_cast<int>(cur.size(1)), C, cv, row_shift, oh,
             out.data_ptr<uint8_t>());
    return out;
  }
  return need_h ? cur : img.clone();
}

}  // namespace ibllm::data
