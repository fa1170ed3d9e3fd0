// IMU loader (see imu.h). A (T,6) array is transposed; with T == channels the (channels,T) reading
// wins, matching the model's (B,6,2000) layout.
#include "data/transforms/imu.h"

#include <ATen/ATen.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "data/transforms/npy.h"
#include "src/core/error.h"

namespace ibllm::data {

at::Tensor prepare_imu(const at::Tensor& signal, const ImuTransformConfig& c, const std::string& name) {
  at::Tensor x = signal;
  if (x.dim() != 2 || (x.size(0) != c.channels && x.size(1) != c.channels))
    throw DataError("IMU signal '" + name + "' must be (" + std::to_string(c.channels) + ",T) or (T," +
                    std::to_string(c.channels) + "), got " + std::to_string(x.dim()) + "-D " +
                    (x.dim() == 2 ? std::to_string(x.size(0)) + "x" + std::to_string(x.size(1)) : ""));
  if (x.size(0) != c.channels) x = x.t();
  x = x.to(at::kFloat);
  if (!at::isfinite(x).all().item<bool>()) throw DataError("IMU signal '" + name + "' contains NaN or inf");
  const int64_t T = x.size(1);
  if (T == 0) throw DataError("IMU signal '" + name + "' has no samples");
  if (T >= c.num_samples) return x.narrow(1, 0, c.num_samples).contiguous();
  return at::constant_pad_nd(x, {0, c.num_samples - T}, 0.0);
}

at::Tensor load_imu(const std::string& path, const ImuTransformConfig& c) {
  const auto dot = path.find_last_of('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  if (ext == "npy") return prepare_imu(read_npy(path), c, path);
  if (ext != "csv" && ext != "txt")
    throw DataError("unsupported IMU file '" + path + "'", "use .npy, .csv or .txt");
  std::ifstream f(path);
  if (!f) throw DataError("cannot open IMU file '" + path + "'", "check that the file exists");
  std::vector<double> v;
  int64_t cols = -1, rows = 0;
  std::string line;
  for (int64_t lineno = 1; std::getline(f, line); ++lineno) {
    for (auto& ch : line)
      if (ch == ',' || ch == ';' || ch == '\t') ch = ' ';
    std::istringstream ls(line);
    std::vector<double> row;
    std::string tok;
    while (ls >> tok) {
      try {
        size_t used = 0;
        row.push_back(std::stod(tok, &used));
        if (used != tok.size()) throw std::invalid_argument(tok);
      } catch (const std::exception&) {
        if (lineno == 1 && row.empty()) break;  // a header line
        throw DataError("IMU file '" + path + "' line " + std::to_string(lineno) + ": not a number '" + tok + "'");
      }
    }
    if (row.empty()) continue;
    if (cols < 0) cols = static_cast<int64_t>(row.size());
    if (static_cast<int64_t>(row.size()) != cols)
      throw DataError("IMU file '" + path + "' line " + std::to_string(lineno) + ": " +
                      std::to_string(row.size()) + " values, expected " + std::to_string(cols));
    v.insert(v.end(), row.begin(), row.end());
    ++rows;
  }
  if (rows == 0) throw DataError("IMU file '" + path + "' has no samples");
  return prepare_imu(at::tensor(v, at::kDouble).reshape({rows, cols}), c, path);
}

}  // namespace ibllm::data
