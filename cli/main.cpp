// Process entry: the only place that catches. Maps ibllm::Error to its exit code (2 usage/config,
// 1 runtime) and prints "error: [component] message" plus "hint: ..." when a fix is known.
#include <c10/util/Exception.h>

#include <csignal>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "src/core/error.h"

int main(int argc, char** argv) {
  // A file-size limit (ulimit -f) would otherwise kill the process silently mid-write; ignored, it
  // surfaces as an EFBIG write error that names the file (a checkpoint save then cleans up).
  std::signal(SIGXFSZ, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return ibllm::cli::run_app(args, std::cout, std::cerr);
  } catch (const ibllm::Error& e) {
    std::cerr << "error: [" << e.component() << "] " << e.what() << "\n";
    if (!e.hint().empty()) std::cerr << "hint: " << e.hint() << "\n";
    return e.exit_code();
  } catch (const c10::Error& e) {
    std::cerr << "error: [torch] " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
