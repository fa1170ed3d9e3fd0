// A named-factory registry for `kind:` choices (schedules, optimizers, datasets, trainers).
// Registration is explicit, in one function per family (no self-registering statics, which a
// static library drops silently); an unknown kind lists the known ones.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "src/core/error.h"
#include "src/core/strings.h"

namespace ibllm::core {

template <class Factory>
class Registry {
 public:
  explicit Registry(std::string family) : family_(std::move(family)) {}

  void add(const std::string& kind, Factory f, std::string description = "") {
    if (entries_.count(kind))
      throw Error("registry", family_ + " kind '" + kind + "' registered twice");
    entries_[kind] = Entry{std::move(f), std::move(description)};
    order_.push_back(kind);
  }
  bool contains(const std::string& kind) const { return entries_.count(kind) != 0; }
  const Factory& get(const std::string& kind) const {
    auto it = entries_.find(kind);
    if (it == entries_.end()) {
      std::string msg = "unknown " + family_ + " kind '" + kind + "'; known: " + join(order_, ", ");
      std::string near = closest_match(kind, order_);
      throw ConfigError(msg, near.empty() ? "" : "did you mean '" + near + "'?");
    }
    return it->second.factory;
  }
  const std::vector<std::string>& kinds() const { return order_; }
  const std::string& description(const std::string& kind) const { return entries_.at(kind).description; }
  const std::string& family() const { return family_; }

 private:
  struct Entry {
    Factory factory;
    std::string description;
  };
  std::string family_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> order_;
};

}  // namespace ibllm::core
