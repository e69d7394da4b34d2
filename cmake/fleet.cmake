# Fleet: the metrics model and its writer, the systemd unit, the man page,
# bash completion, the alerting rules, and the Debian package (issue #11).
# Included at the end of the top-level CMakeLists.txt.

target_sources(cwt_core PRIVATE
  ${CMAKE_SOURCE_DIR}/userspace/common/atomic_file.cpp
  ${CMAKE_SOURCE_DIR}/userspace/report/prometheus_text.cpp)

if(CWT_BUILD_TESTS AND TARGET unit_tests)
  target_sources(unit_tests PRIVATE
    ${CMAKE_SOURCE_DIR}/tests/unit/atomic_file_test.cpp
    ${CMAKE_SOURCE_DIR}/tests/unit/prometheus_text_test.cpp)
endif()
