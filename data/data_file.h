// Reads a whole dataset file (TSV, JSON, JSON Lines) into memory, with the errors every dataset
// reader reports for an unopenable or unreadable file.
#pragma once

#include <string>

namespace ibllm::data {

// Throws DataError naming `path` when it cannot be opened or read.
std::string read_data_file(const std::string& path);

}  // namespace ibllm::data
