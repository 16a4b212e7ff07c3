# LibTorch, taken from a PyTorch installation: the project's virtual environment (.venv/, made
# by scripts/setup.sh with PyTorch 2.11 from PyPI) or, when MOE_TORCH_PYTHON names another
# Python (a GPU machine's preinstalled PyTorch, a cluster image), that one's. CUDA and NCCL are
# compiled in whenever that LibTorch has them; MOE_WITH_CUDA says so to the code.
#
# Defines the target moe::torch (LibTorch with c10d's Gloo and, with CUDA, NCCL) and
# MOE_WITH_CUDA, MOE_TORCH_VERSION, MOE_PYTHON (the Python that tests and benchmarks use).

set(MOE_TORCH_PYTHON "" CACHE FILEPATH
    "Python whose PyTorch provides LibTorch (default: $MOE_TORCH_PYTHON, else .venv/bin/python)")
if(NOT MOE_TORCH_PYTHON AND DEFINED ENV{MOE_TORCH_PYTHON})
  set(MOE_TORCH_PYTHON "$ENV{MOE_TORCH_PYTHON}")
endif()
if(NOT MOE_TORCH_PYTHON)
  set(MOE_TORCH_PYTHON "${PROJECT_SOURCE_DIR}/.venv/bin/python")
endif()
if(NOT EXISTS "${MOE_TORCH_PYTHON}")
  message(FATAL_ERROR "no Python at ${MOE_TORCH_PYTHON}: run scripts/setup.sh (it makes .venv/ "
                      "with PyTorch), or point MOE_TORCH_PYTHON at a Python that has PyTorch")
endif()
set(MOE_PYTHON "${MOE_TORCH_PYTHON}")

# One line each: CMake prefix, version, CUDA version ('-' without CUDA), NCCL include directory
# ('-' when NCCL comes with the CUDA toolkit or not at all).
execute_process(
  COMMAND "${MOE_TORCH_PYTHON}" -c [=[
import os, torch, torch.utils
print(torch.utils.cmake_prefix_path)
print(torch.__version__.split('+')[0])
print(torch.version.cuda or '-')
try:
    import nvidia.nccl
    print(os.path.join(list(nvidia.nccl.__path__)[0], 'include'))
except ImportError:
    print('-')
]=]
  OUTPUT_VARIABLE _moe_torch_info
  ERROR_VARIABLE _moe_torch_error
  RESULT_VARIABLE _moe_torch_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _moe_torch_rc EQUAL 0)
  message(FATAL_ERROR "${MOE_TORCH_PYTHON} cannot import torch:\n${_moe_torch_error}")
endif()
string(REPLACE "\n" ";" _moe_torch_info "${_moe_torch_info}")
list(GET _moe_torch_info 0 _moe_torch_prefix)
list(GET _moe_torch_info 1 MOE_TORCH_VERSION)
list(GET _moe_torch_info 2 _moe_torch_cuda)
list(GET _moe_torch_info 3 _moe_nccl_include)
foreach(_var _moe_torch_cuda _moe_nccl_include)
  if("${${_var}}" STREQUAL "-")
    set(${_var} "")
  endif()
endforeach()
list(PREPEND CMAKE_PREFIX_PATH "${_moe_torch_prefix}")

if(_moe_torch_cuda)
  # Caffe2's CMake finds the CUDA toolkit (nvcc, cudart, NVRTC) of the same major version.
  if(NOT CUDAToolkit_ROOT AND EXISTS /usr/local/cuda)
    set(CUDAToolkit_ROOT /usr/local/cuda)
  endif()
endif()
find_package(Torch REQUIRED)

set(MOE_WITH_CUDA OFF)
if(TARGET torch_cuda)
  set(MOE_WITH_CUDA ON)
endif()
message(STATUS "LibTorch ${MOE_TORCH_VERSION} from ${MOE_TORCH_PYTHON}; "
               "CUDA ${_moe_torch_cuda} compiled in: ${MOE_WITH_CUDA}")

# LibTorch's include directory carries its own protobuf and fmt headers, of other versions than
# the Debian libraries we link (protobuf; spdlog's fmt). Put those libraries' first, for every
# target, through links that name only them.
find_package(fmt CONFIG REQUIRED)
get_target_property(_moe_fmt_include fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
set(_moe_system_first "${CMAKE_BINARY_DIR}/system-first")
file(MAKE_DIRECTORY "${_moe_system_first}")
list(GET Protobuf_INCLUDE_DIRS 0 _moe_protobuf_include)
list(GET _moe_fmt_include 0 _moe_fmt_include)
file(CREATE_LINK "${_moe_protobuf_include}/google" "${_moe_system_first}/google" SYMBOLIC)
file(CREATE_LINK "${_moe_fmt_include}/fmt" "${_moe_system_first}/fmt" SYMBOLIC)
include_directories(BEFORE SYSTEM "${_moe_system_first}")

# c10d's Gloo process group needs Gloo's headers (Debian's libgloo-dev; LibTorch links Gloo).
find_path(MOE_GLOO_INCLUDE gloo/algorithm.h)
if(NOT MOE_GLOO_INCLUDE)
  message(FATAL_ERROR "Gloo's headers (gloo/algorithm.h) not found: install libgloo-dev")
endif()

add_library(moe_torch INTERFACE)
add_library(moe::torch ALIAS moe_torch)
# PyPI's libtorch.so exports a statically linked copy of std::filesystem (built for old
# manylinux toolchains) whose remove_all calls through a null pointer here; the system
# libstdc++ must come first in every binary's lookup order, so it is named before LibTorch.
target_link_libraries(moe_torch INTERFACE "-Wl,--push-state,--no-as-needed,-lstdc++,--pop-state"
                                          ${TORCH_LIBRARIES})
target_include_directories(moe_torch SYSTEM INTERFACE "${MOE_GLOO_INCLUDE}")
# c10d's process groups are declared only with these (LibTorch's own build defines them).
target_compile_definitions(moe_torch INTERFACE USE_DISTRIBUTED USE_C10D_GLOO)
if(MOE_WITH_CUDA)
  target_compile_definitions(moe_torch INTERFACE USE_C10D_NCCL MOE_WITH_CUDA)
  if(_moe_nccl_include)
    target_include_directories(moe_torch SYSTEM INTERFACE "${_moe_nccl_include}")
  endif()
endif()
