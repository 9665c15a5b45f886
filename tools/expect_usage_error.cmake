# Run CMD with ARGS (a ;-list): it must exit with status 2 and say why on stderr.
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "umshim-info ${ARGS}: exit status ${rc}, expected 2\nstdout: ${out}\nstderr: ${err}")
endif()
if(NOT err MATCHES "umshim-info: ")
  message(FATAL_ERROR "umshim-info ${ARGS}: no message on stderr (got: ${err})")
endif()
message(STATUS "umshim-info ${ARGS}: exit 2: ${err}")
