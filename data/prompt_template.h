// The Alpaca prompt templates of the reference (spec §3.7), byte for byte, and the continuation
// used for later turns of a multi-turn conversation. The instruction is inserted as a plain string
// (the reference's text-only path formatted a 1-tuple, spec §9.9; that bug is not reproduced).
#pragma once

#include <string>

namespace ibllm::data {

// The pre-train instruction paired with every caption.
inline constexpr const char* kCaptionInstruction = "Generate caption of this image";

// format_prompt(instruction, input): the "no input" template when `input` is empty.
std::string format_prompt(const std::string& instruction, const std::string& input = "");

// Prompt of turn k >= 1 in multi-turn mode: continues the first turn's template after the
// previous answer: "\n\n### Instruction:\n{instruction}\n\n### Response:" (plus an Input block).
std::string format_followup_prompt(const std::string& instruction, const std::string& input = "");

}  // namespace ibllm::data
