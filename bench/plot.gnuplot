# The plot of `make bench` (bench/run_bench.py writes the data and calls this):
#   gnuplot -e "datadir='bench/results/plot-data'; out='bench/results/latest.png'; labels='disk tmpfs'" bench/plot.gnuplot
# Top left: gateway latency over the one-chat run (p50 and p99 per 50 messages).
# Top right: latency percentiles, one chat and 200 concurrent chats.
# Bottom: the daemon's resident memory and open file descriptors over the run.
set terminal pngcairo size 1400,1000 font ",10" noenhanced
set output out
set multiplot layout 2,2 title "openclawd gateway: latency and memory (instant url: nodes, fake Bot API)"
set grid
set key top left

set title "latency over the run, 1 chat (per 50 messages)"
set xlabel "messages"
set ylabel "ms"
set logscale y
plot for [l in labels] datadir."/window-".l.".dat" using 1:2 with linespoints title l." p50", \
     for [l in labels] datadir."/window-".l.".dat" using 1:3 with lines dashtype 2 title l." p99"

set title "latency percentiles"
set xlabel "percentile"
set ylabel "ms"
set logscale y
set xrange [0:100]
plot for [l in labels] datadir."/cdf-".l.".dat" using 1:2 with lines linewidth 2 title l.", 1 chat", \
     for [l in labels] datadir."/cdf-".l.".dat" using 1:3 with lines dashtype 2 linewidth 2 title l.", 200 chats"
unset xrange

set title "daemon resident memory (VmRSS)"
set xlabel "messages handled"
set ylabel "MiB"
unset logscale y
set yrange [0:*]
plot for [l in labels] datadir."/memory-".l.".dat" using 1:2 with linespoints title l

set title "daemon open file descriptors"
set xlabel "messages handled"
set ylabel "fds"
plot for [l in labels] datadir."/memory-".l.".dat" using 1:3 with linespoints title l

unset multiplot
