# The libFuzzer targets (tests/fuzz/CMakeLists.txt, a clang sub-build in
# <build>/fuzz), built by the test fuzz_build and each run for
# CWT_FUZZ_SECONDS from its committed seeds. No root needed.
option(CWT_BUILD_FUZZ "Build the libFuzzer targets (clang) and run each from ctest" ON)
set(CWT_FUZZ_SECONDS 20 CACHE STRING "Seconds each fuzz target runs in the suite")
if(CWT_BUILD_FUZZ)
  set(CWT_FUZZ_DIR ${CMAKE_BINARY_DIR}/fuzz)
  add_test(NAME fuzz_build COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh build ${CWT_FUZZ_DIR})
  set_tests_properties(fuzz_build PROPERTIES TIMEOUT 900 FIXTURES_SETUP cwt_fuzz)
  foreach(target fuzz_ringbuf fuzz_iter_records fuzz_cli fuzz_proc_text)
    add_test(NAME ${target} COMMAND ${CMAKE_CURRENT_LIST_DIR}/run.sh run ${CWT_FUZZ_DIR} ${target} ${CWT_FUZZ_SECONDS})
    set_tests_properties(${target} PROPERTIES TIMEOUT 300 FIXTURES_REQUIRED cwt_fuzz)
  endforeach()
endif()
