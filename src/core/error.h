// The error types every layer throws. Library code throws; only cli/main.cpp catches, prints
// "error: [component] message" plus "hint: ..." and maps the type to the process exit code
// (2 for usage/config errors, 1 for everything else).
#pragma once

#include <stdexcept>
#include <string>

namespace ibllm {

class Error : public std::runtime_error {
 public:
  Error(std::string component, const std::string& message, std::string hint = "")
      : std::runtime_error(message), component_(std::move(component)), hint_(std::move(hint)) {}
  const std::string& component() const { return component_; }
  const std::string& hint() const { return hint_; }
  virtual int exit_code() const { return 1; }

 private:
  std::string component_;
  std::string hint_;
};

// Bad command line: unknown command/flag, missing argument. Exit code 2.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& message, std::string hint = "")
      : Error("cli", message, std::move(hint)) {}
  int exit_code() const override { return 2; }
};

// Invalid configuration (all problems collected into one message). Exit code 2.
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message, std::string hint = "")
      : Error("config", message, std::move(hint)) {}
  int exit_code() const override { return 2; }
};

// Reading or writing files: weights, safetensors, .pth, metrics, event files.
class IoError : public Error {
 public:
  // `os_error`: the errno of a failed system call (ENOSPC, EDQUOT, EFBIG, EACCES, ...), 0 when the
  // problem is the data (a malformed file, a tensor that cannot be stored).
  explicit IoError(const std::string& message, std::string hint = "", int os_error = 0)
      : Error("io", message, std::move(hint)), os_error_(os_error) {}
  int os_error() const { return os_error_; }

 private:
  int os_error_ = 0;
};

// Loading model weights into modules: missing/unexpected/mis-shaped keys.
class CheckpointError : public Error {
 public:
  explicit CheckpointError(const std::string& message, std::string hint = "")
      : Error("checkpoint", message, std::move(hint)) {}
};

// Datasets, samples, tokenizers, transforms.
class DataError : public Error {
 public:
  explicit DataError(const std::string& message, std::string hint = "")
      : Error("data", message, std::move(hint)) {}
};

// Numeric/model invariants that are the caller's fault (wrong shapes passed to a module, ...).
class ModelError : public Error {
 public:
  explicit ModelError(const std::string& message, std::string hint = "")
      : Error("model", message, std::move(hint)) {}
};

// A feature that was compiled out ("built without OpenCV"); the hint says how to rebuild.
class NotBuiltError : public Error {
 public:
  NotBuiltError(const std::string& feature, const std::string& what_needs_it)
      : Error("build",
              what_needs_it + " needs " + feature + ", but this ibllm was built without " + feature,
              "rebuild with -DIBLLM_WITH_" + upper(feature) +
                  "=ON after installing it (launch/install_deps.sh installs it on Debian)") {}

 private:
  static std::string upper(std::string s) {
    for (auto& c : s) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    return s;
  }
};

}  // namespace ibllm
