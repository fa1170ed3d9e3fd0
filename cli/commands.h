// One function per implemented subcommand (each in its own cmd_<name>.cpp). Each receives the
// arguments after the command name and its own usage text.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace ibllm::cli {

int cmd_info(const std::vector<std::string>& args, std::ostream& out);
int cmd_check_config(const std::vector<std::string>& args, std::ostream& out);
int cmd_inspect(const std::vector<std::string>& args, std::ostream& out);
int cmd_convert(const std::vector<std::string>& args, std::ostream& out);
int cmd_embed(const std::vector<std::string>& args, std::ostream& out);
int cmd_train(const std::vector<std::string>& args, std::ostream& out);
int cmd_eval(const std::vector<std::string>& args, std::ostream& out);
int cmd_export(const std::vector<std::string>& args, std::ostream& out);
int cmd_generate(const std::vector<std::string>& args, std::ostream& out);
int cmd_build_cache(const std::vector<std::string>& args, std::ostream& out);
int cmd_bench(const std::vector<std::string>& args, std::ostream& out);

}  // namespace ibllm::cli
