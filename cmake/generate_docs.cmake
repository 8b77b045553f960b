# Writes what the build derives from hearth's command table by running the
# built binary: the hearth(1) man page (`hearth __man`) and the completion
# scripts (`hearth completion bash|zsh|fish`). Run by CMakeLists.txt with
# -DHEARTH=<the binary> -DOUT=<the build directory>.
function(run_hearth out)
  execute_process(COMMAND ${HEARTH} ${ARGN} OUTPUT_FILE ${out}.tmp RESULT_VARIABLE rc
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "hearth ${ARGN} failed (${rc}): ${err}")
  endif()
  file(RENAME ${out}.tmp ${out})
endfunction()

file(MAKE_DIRECTORY ${OUT}/completions)
run_hearth(${OUT}/hearth.1 __man)
run_hearth(${OUT}/completions/hearth completion bash)
run_hearth(${OUT}/completions/_hearth completion zsh)
run_hearth(${OUT}/completions/hearth.fish completion fish)
