# The projection of `openclawd-bench-critical-path` (bench/run_bench.py writes the data):
#   gnuplot -e "data='bench/results/plot-data/critical_path.dat'; out='bench/results/critical_path.png'" bench/critical_path.gnuplot
# Seconds from a message to the first answer token on the story's machine, per case, before the
# KV keeper (issue 16) and after: an ESTIMATE from measured token counts and stated rates.
set terminal pngcairo size 1000,600 font ",10" noenhanced
set output out
set title "Estimated time to the first answer token on the story's machine (Gemma 3 counts; an estimate)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set ylabel "seconds (estimate)"
set grid ytics
set key top left
set xtics rotate by -15
plot data using 2:xtic(1) title "before (no warm-up, no slot files)", '' using 3 title "after"
