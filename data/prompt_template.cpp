// Alpaca templates (spec §3.7); the strings are the reference's exactly.
#include "data/prompt_template.h"

namespace ibllm::data {

std::string format_prompt(const std::string& instruction, const std::string& input) {
  if (input.empty())
    return "Below is an instruction that describes a task. Write a response that appropriately "
           "completes the request.\n\n### Instruction:\n" +
           instruction + "\n\n### Response:";
  return "Below is an instruction that describes a task, paired with an input that provides "
         "further context. Write a response that appropriately completes the request.\n\n"
         "### Instruction:\n" +
         instruction + "\n\n### Input:\n" + input + "\n\n### Response:";
}

std::string format_followup_prompt(const std::string& instruction, const std::string& input) {
  if (input.empty()) return "\n\n### Instruction:\n" + instruction + "\n\n### Response:";
  return "\n\n### Instruction:\n" + instruction + "\n\n### Input:\n" + input + "\n\n### Response:";
}

}  // namespace ibllm::data
