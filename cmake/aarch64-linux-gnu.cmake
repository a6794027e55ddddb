# Cross build for 64-bit ARM with Debian's crossbuild-essential-arm64 and the :arm64
# -dev packages (multiarch); tests run under qemu-user (`make check-arm64`).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
# libpq-dev cannot be installed for two architectures at once: the arm64 libpq5 runtime
# is linked directly, with the native libpq-dev's headers (the same on every 64-bit
# Linux), through arm64-pkgconfig/libpq.pc.
# Only the arm64 .pc files: the host's would hand out x86-64 libraries.
set(ENV{PKG_CONFIG_LIBDIR} "${CMAKE_CURRENT_LIST_DIR}/arm64-pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
# The :arm64 packages install into the host's multiarch tree, so "/" is the sysroot
# that qemu looks up the dynamic loader and libraries in.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
