# Sourced by the build scripts: ccache that hits across clones (CI builds a fresh clone
# elsewhere): paths relative to the project, the build directory left out of the hash, and
# LibTorch's precompiled headers cacheable.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-10G}
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
