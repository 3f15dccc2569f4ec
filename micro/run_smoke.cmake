# The micro_smoke test: lists the benchmarks a reduced filter selects, runs
# them briefly with JSON output, and checks the result with
# muxbench-micro-check. Usage:
#   cmake -DMICRO=<muxbench-micro> -DCHECK=<muxbench-micro-check>
#         -DWORK_DIR=<dir> -P run_smoke.cmake
foreach(var MICRO CHECK WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_smoke.cmake: -D${var}=... is required")
  endif()
endforeach()

# Every mechanism at N = 10 and 100, the codec and the histogram.
set(filter "^BM_(Dispatch|Register)/[^/]+/(10|100)(/|$)|^BM_(Rot13|LineCodec)/|^BM_HistogramRecord$")
set(results ${WORK_DIR}/micro-smoke.json)
set(listed ${WORK_DIR}/listed.txt)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

execute_process(
  COMMAND ${MICRO} --benchmark_list_tests=true --benchmark_filter=${filter}
  OUTPUT_FILE ${listed}
  RESULT_VARIABLE rc
  TIMEOUT 30)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "muxbench-micro --benchmark_list_tests failed: ${rc}")
endif()

execute_process(
  COMMAND ${MICRO} --benchmark_filter=${filter} --benchmark_min_time=0.01
          --benchmark_format=json --benchmark_out=${results} --benchmark_out_format=json
  OUTPUT_QUIET
  RESULT_VARIABLE rc
  TIMEOUT 240)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "muxbench-micro failed: ${rc}")
endif()

execute_process(
  COMMAND ${CHECK} ${results} ${listed}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "muxbench-micro-check found problems in ${results}")
endif()
