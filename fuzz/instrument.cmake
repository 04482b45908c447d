# Included by the top-level CMakeLists.txt when WARDEN_FUZZ is on, before any library is
# defined: every warden object gets libFuzzer's coverage hooks (so the fuzzers see inside the
# libraries they link) and AddressSanitizer plus UndefinedBehaviorSanitizer. Any undefined
# behaviour stops the process (no recovery), so the fuzzer reports it like a crash.
#
# Clang 19 or newer: libstdc++ 12 (Debian 12's) declares std::expected only when
# __cpp_concepts >= 202002L, and clang defines that value from 19 on (14 to 18 say 201907L, so
# <expected> comes out empty). Debian 12 ships clang-19 and libclang-rt-19-dev (libFuzzer and
# the sanitizer runtimes) in its main archive; scripts/fuzz installs them. The standard library
# stays libstdc++, which RE2, toml++ and the other libraries were built against.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR CMAKE_CXX_COMPILER_VERSION VERSION_LESS 19)
  message(FATAL_ERROR "WARDEN_FUZZ needs clang++ 19 or newer (found ${CMAKE_CXX_COMPILER_ID} "
                      "${CMAKE_CXX_COMPILER_VERSION}); scripts/fuzz sets it up")
endif()
set(WARDEN_SANITIZERS address,undefined)
add_compile_options(-fsanitize=fuzzer-no-link,${WARDEN_SANITIZERS} -fno-sanitize-recover=all
                    -fno-omit-frame-pointer)
add_link_options(-fsanitize=${WARDEN_SANITIZERS})
