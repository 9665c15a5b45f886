# Run CMD with ARGS (a ;-list): it must succeed and print one valid JSON document.
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE rc OUTPUT_FILE ${OUT}
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "umshim-info ${ARGS}: exit status ${rc}: ${err}")
endif()
execute_process(COMMAND ${PYTHON} -m json.tool ${OUT}
                RESULT_VARIABLE jrc OUTPUT_VARIABLE pretty ERROR_VARIABLE jerr)
if(NOT jrc EQUAL 0)
  file(READ ${OUT} raw)
  message(FATAL_ERROR "umshim-info ${ARGS}: not valid JSON: ${jerr}\n${raw}")
endif()
message(STATUS "${pretty}")
