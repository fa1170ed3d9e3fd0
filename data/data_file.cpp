// read_data_file (see data_file.h).
#include "data/data_file.h"

#include <fstream>
#include <sstream>

#include "src/core/error.h"

namespace ibllm::data {

std::string read_data_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw DataError("cannot open data file " + path, "check data.sources[*].path");
  std::stringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw DataError("cannot read data file " + path);
  return ss.str();
}

}  // namespace ibllm::data
