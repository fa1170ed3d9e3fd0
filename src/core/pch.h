// The one precompiled header (built once for the library, reused by the test binary): the lean
// set of torch headers that model/io code needs. Never include <torch/torch.h> (14-18 s per TU);
// include what you use from this set, and torch-free files skip the PCH automatically.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <memory>
#include <string>
#include <vector>
