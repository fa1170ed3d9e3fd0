// Point-cloud loaders and the Point-Bind input normalisation (see point_cloud.h). Parsers are small
// and strict: every malformed file is a DataError with the file name and what was wrong.
#include "data/transforms/point_cloud.h"

#include <ATen/ATen.h>

#include <cmath>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <vector>

#include "src/core/error.h"
#include "data/transforms/npy.h"
#include "src/io/pth_reader.h"

namespace ibllm::data {

namespace {

std::string lower_ext(const std::string& path) {
  auto dot = path.find_last_of('.');
  if (dot == std::string::npos) return "";
  std::string e = path.substr(dot + 1);
  for (auto& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

std::vector<char> read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError("cannot open point cloud '" + path + "'", "check that the file exists");
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// (N,C>=3) any float/int dtype -> (N,3) float32, validated.
at::Tensor to_xyz(const at::Tensor& t, const std::string& path) {
  if (t.dim() != 2 || t.size(1) < 3) {
    std::string shape = "(";
    for (int64_t i = 0; i < t.dim(); ++i) shape += (i ? "," : "") + std::to_string(t.size(i));
    throw DataError("point cloud '" + path + "' must be (N,3+) but has shape " + shape + ")");
  }
  if (t.size(0) == 0) throw DataError("point cloud '" + path + "' has no points");
  at::Tensor xyz = t.narrow(1, 0, 3).to(at::kFloat).contiguous();
  if (!at::isfinite(xyz).all().item<bool>())
    throw DataError("point cloud '" + path + "' contains NaN or infinite coordinates");
  return xyz;
}

at::Tensor from_rows(const std::vector<double>& v, int64_t cols, const std::string& path) {
  const int64_t n = static_cast<int64_t>(v.size()) / cols;
  return to_xyz(at::tensor(v, at::kDouble).reshape({n, cols}), path);
}

at::Tensor load_npy(const std::string& path) { return to_xyz(read_npy(path), path); }

at::Tensor load_text_rows(const std::string& path, bool obj) {
  std::ifstream f(path);
  if (!f) throw DataError("cannot open point cloud '" + path + "'", "check that the file exists");
  std::vector<double> v;
  int64_t cols = -1;
  std::string line;
  for (int64_t lineno = 1; std::getline(f, line); ++lineno) {
    std::istringstream ls(line);
    if (obj) {
      std::string tag;
      if (!(ls >> tag) || tag != "v") continue;
    }
    std::vector<double> row;
    std::string tok;
    while (ls >> tok) {
      if (tok[0] == '#') break;
      try {
        size_t used = 0;
        row.push_back(std::stod(tok, &used));
        if (used != tok.size()) throw std::invalid_argument(tok);
      } catch (const std::exception&) {
        throw DataError("point cloud '" + path + "' line " + std::to_string(lineno) +
                        ": not a number '" + tok + "'");
      }
    }
    if (row.empty()) continue;
    if (obj) row.resize(3);
    if (cols < 0) cols = static_cast<int64_t>(row.size());
    if (static_cast<int64_t>(row.size()) != cols || cols < 3)
      throw DataError("point cloud '" + path + "' line " + std::to_string(lineno) + ": expected " +
                      std::to_string(std::max<int64_t>(cols, 3)) + " columns, got " +
                      std::to_string(row.size()));
    v.insert(v.end(), row.begin(), row.end());
  }
  if (cols < 0) throw DataError("point cloud '" + path + "' has no points");
  return from_rows(v, cols, path);
}

size_t ply_type_size(const std::string& t) {
  if (t == "char" || t == "uchar" || t == "int8" || t == "uint8") return 1;
  if (t == "short" || t == "ushort" || t == "int16" || t == "uint16") return 2;
  if (t == "int" || t == "uint" || t == "int32" || t == "uint32" || t == "float" || t == "float32") return 4;
  if (t == "double" || t == "float64") return 8;
  return 0;
}

double ply_read(const char* p, const std::string& t, bool swap) {
  char buf[8];
  const size_t n = ply_type_size(t);
  std::memcpy(buf, p, n);
  if (swap) std::reverse(buf, buf + n);
  auto as = [&](auto v) { std::memcpy(&v, buf, sizeof(v)); return static_cast<double>(v); };
  if (t == "char" || t == "int8") return as(int8_t{});
  if (t == "uchar" || t == "uint8") return as(uint8_t{});
  if (t == "short" || t == "int16") return as(int16_t{});
  if (t == "ushort" || t == "uint16") return as(uint16_t{});
  if (t == "int" || t == "int32") return as(int32_t{});
  if (t == "uint" || t == "uint32") return as(uint32_t{});
  if (t == "float" || t == "float32") return as(float{});
  return as(double{});
}

at::Tensor load_ply(const std::string& path) {
  std::vector<char> b = read_all(path);
  const std::string text(b.begin(), b.end());
  const auto end = text.find("end_header");
  if (text.rfind("ply", 0) != 0 || end == std::string::npos)
    throw DataError("'" + path + "' is not a PLY file (missing 'ply' / 'end_header')");
  size_t body = text.find('\n', end);
  body = body == std::string::npos ? text.size() : body + 1;
  std::istringstream hs(text.substr(0, end));
  std::string line, format;
  int64_t count = -1;
  bool in_vertex = false, vertex_first = true;
  std::vector<std::pair<std::string, std::string>> props;  // (type, name)
  while (std::getline(hs, line)) {
    std::istringstream ls(line);
    std::string kw;
    ls >> kw;
    if (kw == "format") {
      ls >> format;
    } else if (kw == "element") {
      std::string name;
      int64_t n = 0;
      ls >> name >> n;
      if (name == "vertex") {
        in_vertex = true;
        count = n;
      } else {
        if (count < 0 && n > 0) vertex_first = false;
        in_vertex = false;
      }
    } else if (kw == "property" && in_vertex) {
      std::string type, name;
      ls >> type >> name;
      if (type == "list" || ply_type_size(type) == 0)
        throw DataError("'" + path + "': unsupported PLY vertex property '" + line + "'");
      props.emplace_back(type, name);
    }
  }
  if (count < 0) throw DataError("'" + path + "': PLY file has no vertex element");
  if (!vertex_first) throw DataError("'" + path + "': PLY elements before 'vertex' are not supported");
  int ix = -1, iy = -1, iz = -1;
  for (size_t i = 0; i < props.size(); ++i) {
    if (props[i].second == "x") ix = static_cast<int>(i);
    if (props[i].second == "y") iy = static_cast<int>(i);
    if (props[i].second == "z") iz = static_cast<int>(i);
  }
  if (ix < 0 || iy < 0 || iz < 0) throw DataError("'" + path + "': PLY vertices lack x/y/z");
  // The header's vertex count must fit the bytes after it before anything is sized from it: an
  // ASCII vertex takes at least two bytes a property ("0 "), a binary one its record size.
  size_t stride = 0;
  for (const auto& p : props) stride += ply_type_size(p.first);
  const size_t per_vertex = format == "ascii" ? 2 * props.size() : stride;
  const size_t avail = b.size() - body + (format == "ascii" ? 1 : 0);  // (no final separator)
  if (static_cast<uint64_t>(count) > avail / per_vertex)
    throw DataError("'" + path + "': truncated PLY: the header declares " + std::to_string(count) +
                    " vertices, the " + std::to_string(b.size() - body) +
                    " bytes after it hold at most " + std::to_string(avail / per_vertex));
  std::vector<double> v;
  v.reserve(static_cast<size_t>(count) * 3);
  if (format == "ascii") {
    std::istringstream bs(text.substr(body));
    std::vector<double> row(props.size());
    for (int64_t i = 0; i < count; ++i) {
      for (auto& r : row)
        if (!(bs >> r))
          throw DataError("'" + path + "': truncated ASCII PLY (vertex " + std::to_string(i) + ")");
      v.insert(v.end(), {row[ix], row[iy], row[iz]});
    }
  } else if (format == "binary_little_endian" || format == "binary_big_endian") {
    const bool swap = format == "binary_big_endian";  // the machines we target are little-endian
    std::vector<size_t> offs;
    size_t off = 0;
    for (const auto& p : props) {
      offs.push_back(off);
      off += ply_type_size(p.first);
    }
    for (int64_t i = 0; i < count; ++i) {
      const char* rec = b.data() + body + static_cast<size_t>(i) * stride;
      for (int k : {ix, iy, iz}) v.push_back(ply_read(rec + offs[k], props[k].first, swap));
    }
  } else {
    throw DataError("'" + path + "': unknown PLY format '" + format + "'");
  }
  return from_rows(v, 3, path);
}

at::Tensor load_pt(const std::string& path) {
  std::map<std::string, at::Tensor> t;
  try {
    t = io::read_pth(path);
  } catch (const Error& e) {
    throw DataError("cannot read point cloud '" + path + "': " + e.what());
  }
  if (t.size() != 1)
    throw DataError("'" + path + "' must hold exactly one tensor (N,3), found " + std::to_string(t.size()));
  return to_xyz(t.begin()->second.clone(), path);
}

}  // namespace

at::Tensor load_point_cloud(const std::string& path) {
  const std::string ext = lower_ext(path);
  if (ext == "pt" || ext == "pth") return load_pt(path);
  if (ext == "npy") return load_npy(path);
  if (ext == "ply") return load_ply(path);
  if (ext == "xyz" || ext == "txt" || ext == "pts") return load_text_rows(path, false);
  if (ext == "obj") return load_text_rows(path, true);
  throw DataError("unsupported point cloud file '" + path + "'",
                  "use .pt, .npy, .ply, .xyz, .txt, .pts or .obj");
}

std::vector<int64_t> farthest_point_indices(const at::Tensor& points, int64_t n) {
  at::Tensor p = points.to(at::kFloat).contiguous();
  const int64_t N = p.size(0);
  const float* x = p.data_ptr<float>();
  std::vector<float> dist(static_cast<size_t>(N), 1e10f);
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(n));
  int64_t far = 0;
  for (int64_t i = 0; i < n; ++i) {
    out.push_back(far);
    const float cx = x[far * 3], cy = x[far * 3 + 1], cz = x[far * 3 + 2];
    int64_t best = 0;
    float best_d = -1.0f;
    for (int64_t j = 0; j < N; ++j) {
      const float dx = x[j * 3] - cx, dy = x[j * 3 + 1] - cy, dz = x[j * 3 + 2] - cz;
      const float d = std::min(dist[j], dx * dx + dy * dy + dz * dz);
      dist[j] = d;
      if (d > best_d) {
        best_d = d;
        best = j;
      }
    }
    far = best;
  }
  return out;
}

at::Tensor prepare_point_cloud(const at::Tensor& points, const PointCloudConfig& c) {
  // (N,3) -> (num_points,3) float32
  if (points.dim() != 2 || points.size(1) != 3 || points.size(0) == 0)
    throw DataError("prepare_point_cloud expects (N,3) points with N > 0");
  at::Tensor p = points.to(at::kFloat).contiguous();
  if (!at::isfinite(p).all().item<bool>())
    throw DataError("point cloud contains NaN or infinite coordinates");
  const int64_t N = p.size(0);
  if (N > c.num_points) {
    std::vector<int64_t> idx = farthest_point_indices(p, c.num_points);
    p = p.index_select(0, at::tensor(idx, at::kLong));
  } else if (N < c.num_points) {
    p = p.index_select(0, at::arange(c.num_points, at::kLong).remainder(N));  // cycle-repeat
  }
  if (c.normalize) {
    // Point-Bind pc_normalize: centre on the centroid, divide by the largest radius
    p = p - p.mean(0, true);
    const double r = p.norm(2, 1).max().item<double>();
    // Finite coordinates near float32's limit (1e38) overflow the centroid or the radius.
    if (!std::isfinite(r))
      throw DataError("point cloud coordinates are too large to normalise (the centroid or the "
                          "radius overflows float32)",
                      "rescale the points (Point-Bind divides by the largest radius anyway)");
    if (r > 0) p = p / r;
  }
  return p.contiguous();
}

}  // namespace ibllm::data
