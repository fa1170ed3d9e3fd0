// Small string helpers shared by error messages: joining, edit distance and "did you mean".
#pragma once

#include <string>
#include <vector>

namespace ibllm::core {

std::string join(const std::vector<std::string>& parts, const std::string& sep);
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate closest to `word` if it is plausibly a typo of it (distance <= max(1, len/3),
// case-insensitive prefix match counts), else "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);
std::vector<std::string> split(const std::string& s, char sep);

}  // namespace ibllm::core
