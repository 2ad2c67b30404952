/* float_compute: floating-point workload (kind: compute).
 * Mandelbrot + n-body (SSE2 double), float arithmetic, libm functions,
 * fenv rounding modes and exception flags, x87 long double, float->int
 * conversions including out-of-range cases, NaN/Inf printing.
 * Exit status 0. */
#include <stdlib.h>
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* GCC ignores FENV_ACCESS; build.sh compiles this file with -frounding-math instead. */

static uint64_t checksum = 0xcbf29ce484222325ULL;
static void mix_u64(uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        checksum ^= (v >> (8 * i)) & 0xff;
        checksum *= 0x100000001b3ULL;
    }
}
static void mix_d(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    mix_u64(u);
}
static uint64_t bits_d(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}
static uint32_t bits_f(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* ---------------------------------------------------------------- mandelbrot */
static void mandelbrot(void)
{
    const int W = 160, H = 80, MAXIT = 256;
    uint64_t total = 0;
    uint32_t rowhash = 0;
    for (int y = 0; y < H; y++) {
        double ci = -1.2 + 2.4 * y / (H - 1);
        for (int x = 0; x < W; x++) {
            double cr = -2.2 + 3.2 * x / (W - 1);
            double zr = 0, zi = 0;
            int it = 0;
            while (it < MAXIT && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            total += it;
            rowhash = rowhash * 33 + it;
        }
    }
    printf("mandelbrot: %dx%d total iterations %lu hash %08x\n", W, H, total, rowhash);
    mix_u64(total);
    mix_u64(rowhash);
    /* a small ASCII rendering */
    for (int y = 0; y < 12; y++) {
        char line[49];
        for (int x = 0; x < 48; x++) {
            double cr = -2.2 + 3.2 * x / 47, ci = -1.2 + 2.4 * y / 11;
            double zr = 0, zi = 0;
            int it = 0;
            while (it < 50 && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                it++;
            }
            line[x] = " .:-=+*#%@"[it == 50 ? 9 : it % 9];
        }
        line[48] = 0;
        printf("  |%s|\n", line);
    }
}

/* ---------------------------------------------------------------- n-body */
#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS_PER_YEAR 365.24
struct body { double x, y, z, vx, vy, vz, mass; };
static struct body bodies[5] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS_PER_YEAR, 7.69901118419740425e-03 * DAYS_PER_YEAR,
     -6.90460016972063023e-05 * DAYS_PER_YEAR, 9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS_PER_YEAR, 4.99852801234917238e-03 * DAYS_PER_YEAR,
     2.30417297573763929e-05 * DAYS_PER_YEAR, 2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS_PER_YEAR, 2.37847173959480950e-03 * DAYS_PER_YEAR,
     -2.96589568540237556e-05 * DAYS_PER_YEAR, 4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS_PER_YEAR, 1.62824170038242295e-03 * DAYS_PER_YEAR,
     -9.51592254519715870e-05 * DAYS_PER_YEAR, 5.15138902046611451e-05 * SOLAR_MASS},
};

static double energy(void)
{
    double e = 0;
    for (int i = 0; i < 5; i++) {
        struct body *b = &bodies[i];
        e += 0.5 * b->mass * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
        for (int j = i + 1; j < 5; j++) {
            struct body *b2 = &bodies[j];
            double dx = b->x - b2->x, dy = b->y - b2->y, dz = b->z - b2->z;
            e -= (b->mass * b2->mass) / sqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void nbody(void)
{
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < 5; i++) {
        px += bodies[i].vx * bodies[i].mass;
        py += bodies[i].vy * bodies[i].mass;
        pz += bodies[i].vz * bodies[i].mass;
    }
    bodies[0].vx = -px / SOLAR_MASS;
    bodies[0].vy = -py / SOLAR_MASS;
    bodies[0].vz = -pz / SOLAR_MASS;
    printf("nbody: initial energy %.17g\n", energy());
    const double dt = 0.01;
    for (int step = 0; step < 400000; step++) {
        for (int i = 0; i < 5; i++) {
            struct body *b = &bodies[i];
            for (int j = i + 1; j < 5; j++) {
                struct body *b2 = &bodies[j];
                double dx = b->x - b2->x, dy = b->y - b2->y, dz = b->z - b2->z;
                double d2 = dx * dx + dy * dy + dz * dz;
                double mag = dt / (d2 * sqrt(d2));
                b->vx -= dx * b2->mass * mag;
                b->vy -= dy * b2->mass * mag;
                b->vz -= dz * b2->mass * mag;
                b2->vx += dx * b->mass * mag;
                b2->vy += dy * b->mass * mag;
                b2->vz += dz * b->mass * mag;
            }
        }
        for (int i = 0; i < 5; i++) {
            bodies[i].x += dt * bodies[i].vx;
            bodies[i].y += dt * bodies[i].vy;
            bodies[i].z += dt * bodies[i].vz;
        }
    }
    double e = energy();
    printf("nbody: energy after 400000 steps %.17g\n", e);
    printf("nbody: jupiter at (%.17g, %.17g, %.17g)\n", bodies[1].x, bodies[1].y, bodies[1].z);
    mix_d(e);
    mix_d(bodies[1].x);
}

/* ---------------------------------------------------------------- float (single) */
static void singles(void)
{
    float acc = 0.0f, prod = 1.0f;
    for (int i = 1; i <= 20000; i++) {
        float x = (float)i * 0.001f;
        acc += x / (1.0f + x * x);
        prod *= 1.0f + 1.0f / (float)(i + 1000);
    }
    volatile float a = 16777216.0f, one = 1.0f, tiny = 1e-45f, big = FLT_MAX;
    float s1 = a + one;
    float sub = tiny * 0.5f;
    float ovf = big * 2.0f;
    float sq = sqrtf(2.0f * one);
    printf("float: harmonic-ish sum %.9g (%08x) prod %.9g (%08x)\n", acc, bits_f(acc), prod, bits_f(prod));
    printf("float: 2^24+1=%.9g denorm/2=%a FLT_MAX*2=%g sqrtf(2)=%.9g %a\n", s1, sub, ovf, sq, sq);
    printf("float: (double)0.1f=%.17g (float)0.1=%a FLT_MIN=%a FLT_EPSILON=%a\n", (double)0.1f, (float)0.1, FLT_MIN, FLT_EPSILON);
    mix_u64(bits_f(acc));
    mix_u64(bits_f(prod));
}

/* ---------------------------------------------------------------- libm */
static void libm(void)
{
    static const double xs[] = {0.5, 1.0, 2.0, 3.0, 10.0, 0.1, 1e-5, 100.25};
    for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        volatile double x = xs[i];
        printf("libm x=%-7g sqrt=%.17g sin=%.17g cos=%.17g\n", x, sqrt(x), sin(x), cos(x));
        printf("        exp=%.17g log=%.17g pow(x,1.5)=%.17g atan=%.17g\n", exp(x), log(x), pow(x, 1.5), atan(x));
        printf("        fmod(x*7.3,x)=%.17g fmod(1e6,x)=%.17g floor(x*3.7)=%g ceil=%g trunc(-x*3.7)=%g round(x+0.5)=%g\n",
               fmod(x * 7.3, x), fmod(1e6, x), floor(x * 3.7), ceil(x * 3.7), trunc(-x * 3.7), round(x + 0.5));
        mix_d(sqrt(x));
        mix_d(fmod(1e6, x));
    }
    double sum = 0;
    for (int i = 1; i <= 2000; i++) {
        double x = i * 0.0137;
        sum += sin(x) * cos(x) + exp(-x) + log(x) + pow(x, 0.3) + tan(x * 0.1) + atan2(x, 3.0) + hypot(x, 1.0) + cbrt(x);
    }
    /* transcendental sums can differ in the last bits between libm variants;
     * print them rounded to 12 significant digits */
    printf("libm: accumulated sum %.12g\n", sum);
    printf("libm: sinf(1)=%.9g expf(1)=%.9g logf(10)=%.9g powf(2,0.5)=%.9g sqrtf(3)=%.9g\n",
           sinf(1.0f), expf(1.0f), logf(10.0f), powf(2.0f, 0.5f), sqrtf(3.0f));
    printf("libm: sqrt(-1)=%g log(0)=%g exp(1000)=%g exp(-1000)=%g pow(0,-1)=%g fmod(1,0)=%g\n",
           sqrt(-1.0 + 0 * sum), log(0.0 * sum), exp(1000.0 + 0 * sum), exp(-1000.0 + 0 * sum), pow(0.0 * sum, -1.0), fmod(1.0, 0.0 * sum));
    printf("libm: ldexp(1,-1074)=%a frexp: ", ldexp(1.0, -1074));
    int e;
    double m = frexp(1234.5678, &e);
    printf("%.17g * 2^%d, modf(-3.75): ", m, e);
    double ip;
    double fp = modf(-3.75, &ip);
    printf("%g + %g, copysign(3,-0.0)=%g, nextafter(1,2)=%a\n", ip, fp, copysign(3.0, -0.0), nextafter(1.0, 2.0));
}

/* ---------------------------------------------------------------- fenv */
static const char *mode_name(int m)
{
    switch (m) {
    case FE_TONEAREST: return "TONEAREST";
    case FE_UPWARD: return "UPWARD";
    case FE_DOWNWARD: return "DOWNWARD";
    case FE_TOWARDZERO: return "TOWARDZERO";
    }
    return "?";
}

static void rounding(void)
{
    static const int modes[] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    static const double vals[] = {2.5, 3.5, -2.5, -0.5, 1.4999, -7.75};
    for (int m = 0; m < 4; m++) {
        if (fesetround(modes[m]) != 0) {
            printf("fesetround failed\n");
            continue;
        }
        printf("round %-10s (fegetround ok=%d):", mode_name(modes[m]), fegetround() == modes[m]);
        for (int i = 0; i < 6; i++) {
            volatile double v = vals[i];
            printf(" [%g: rint=%g nearbyint=%g lrint=%ld llrint=%lld]", v, rint(v), nearbyint(v), lrint(v), llrint(v));
        }
        printf("\n");
        volatile double one = 1.0, three = 3.0, two = 2.0, tenth = 0.1;
        volatile float fone = 1.0f, fthree = 3.0f;
        double q = one / three;
        double r = -one / three;
        double s = sqrt(two);
        double sum = tenth + 0.2;
        float fq = fone / fthree;
        long double lq = (long double)one / (long double)three;
        volatile double bigd = 1e308;
        double ov = bigd * 10.0;
        printf("   1/3=%a -1/3=%a sqrt2=%a 0.1+0.2=%a 1f/3f=%a 1L/3L=%La 1e308*10=%g (float)(1/3)=%a\n",
               q, r, s, sum, fq, lq, ov, (float)q);
        mix_d(q);
        mix_d(r);
        mix_d(s);
        mix_u64(bits_f(fq));
    }
    fesetround(FE_TONEAREST);
}

static void show_flags(const char *what)
{
    int f = fetestexcept(FE_ALL_EXCEPT);
    printf("fenv %-24s:%s%s%s%s%s%s\n", what,
           f & FE_INVALID ? " INVALID" : "",
           f & FE_DIVBYZERO ? " DIVBYZERO" : "",
           f & FE_OVERFLOW ? " OVERFLOW" : "",
           f & FE_UNDERFLOW ? " UNDERFLOW" : "",
           f & FE_INEXACT ? " INEXACT" : "",
           f == 0 ? " (none)" : "");
    feclearexcept(FE_ALL_EXCEPT);
}

static void exceptions(void)
{
    volatile double z = 0.0, one = 1.0, three = 3.0, big = 1e308, tiny = 1e-308, four = 4.0, m1 = -1.0;
    volatile double r;
    volatile float fz = 0.0f, fbig = 3e38f;
    volatile float fr;
    volatile long double lz = 0.0L, lone = 1.0L;
    volatile long double lr;
    volatile int ir;
    feclearexcept(FE_ALL_EXCEPT);
    show_flags("after clear");
    r = one + three;
    show_flags("1+3");
    r = one / three;
    show_flags("1/3");
    r = one / z;
    show_flags("1/0");
    r = z / z;
    show_flags("0/0");
    r = big * big;
    show_flags("1e308*1e308");
    r = tiny * tiny;
    show_flags("1e-308*1e-308");
    r = sqrt(four);
    show_flags("sqrt(4)");
    r = sqrt(m1);
    show_flags("sqrt(-1)");
    fr = fbig * fbig;
    show_flags("float 3e38*3e38");
    fr = 1.0f / fz;
    show_flags("float 1/0");
    lr = lone / lz;
    show_flags("long double 1/0");
    lr = lone / 3.0L;
    show_flags("long double 1/3");
    ir = (int)big;
    show_flags("(int)1e308");
    ir = (int)(three + 0.5);
    show_flags("(int)3.5");
    feraiseexcept(FE_OVERFLOW | FE_INEXACT);
    show_flags("feraiseexcept(OVF|INEX)");
    (void)r; (void)fr; (void)lr; (void)ir;

    fenv_t env;
    fegetenv(&env);
    fesetround(FE_UPWARD);
    r = one / three;
    printf("fenv: 1/3 in saved-then-upward mode %a\n", r);
    fesetenv(&env);
    r = one / three;
    printf("fenv: 1/3 after fesetenv restore %a (mode %s)\n", r, mode_name(fegetround()));
    feclearexcept(FE_ALL_EXCEPT);
}

/* ---------------------------------------------------------------- long double */
static void longdouble(void)
{
    long double x = 1.0L;
    long double sum = 0.0L;
    for (int i = 1; i <= 5000; i++) {
        sum += 1.0L / ((long double)i * i);
        x *= 1.0001L;
    }
    volatile long double three = 3.0L, two = 2.0L;
    long double third = 1.0L / three;
    long double s2 = sqrtl(two);
    printf("ldbl: sum 1/i^2 (5000 terms) %.21Lg\n", sum);
    printf("ldbl: 1.0001^5000 %.21Lg %Lf\n", x, x);
    printf("ldbl: 1/3=%.21Lg %La sqrtl(2)=%.21Lg %La\n", third, third, s2, s2);
    printf("ldbl: LDBL_EPSILON=%Lg LDBL_MAX=%Lg LDBL_MIN=%Lg LDBL_MANT_DIG=%d\n", LDBL_EPSILON, LDBL_MAX, LDBL_MIN, LDBL_MANT_DIG);
    long double big = 1e4000L * three;
    long double pi = 3.14159265358979323846264338327950288L;
    printf("ldbl: 3e4000=%.21Lg pi=%.21Lg (double)pi=%.17g pi*1e20=%Lf\n", big, pi, (double)pi, pi * 1e20L);
    volatile long double neg = -123456789.987654321L;
    printf("ldbl: (long long)%.12Lf = %lld (unsigned long long)1e19L = %llu\n",
           neg, (long long)neg, (unsigned long long)(1e19L * (two / 2)));
    printf("ldbl: sinl(1)=%.21Lg expl(1)=%.21Lg logl(10)=%.21Lg\n", sinl(1.0L), expl(1.0L), logl(10.0L));
    uint64_t mant;
    uint16_t se;
    memcpy(&mant, &third, 8);
    memcpy(&se, (char *)&third + 8, 2);
    printf("ldbl: 1/3 bits se=%04x mant=%016lx\n", se, mant);
    mix_u64(mant);
    mix_u64(se);
}

/* ---------------------------------------------------------------- conversions */
static void conversions(void)
{
    static const double vals[] = {0.0, -0.0, 1.5, -1.5, 2.5, -2.5, 2147483647.0, 2147483648.0, -2147483648.0,
                                  -2147483649.0, 4294967296.0, 9.2233720368547758e18, -9.2233720368547758e18,
                                  1.8446744073709552e19, 1e20, -1e20, INFINITY, -INFINITY, NAN};
    for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        volatile double v = vals[i];
        /* Out-of-range conversions are undefined in C; on x86-64 gcc emits
         * cvttsd2si which yields the "integer indefinite" value. */
        int32_t i32 = (int32_t)v;
        int64_t i64 = (int64_t)v;
        uint64_t u64 = (uint64_t)v;
        uint32_t u32 = (uint32_t)v;
        int16_t i16 = (int16_t)v;
        float f = (float)v;
        printf("conv %-22.17g i32=%d i64=%ld u32=%u u64=%lu i16=%d float=%a lrint=%ld\n",
               v, i32, i64, u32, u64, i16, f, lrint(v));
    }
    static const float fvals[] = {3.99f, -3.99f, 3e9f, -3e9f, 1e19f, 2e19f};
    for (unsigned i = 0; i < sizeof fvals / sizeof fvals[0]; i++) {
        volatile float v = fvals[i];
        printf("convf %-12g i32=%d i64=%ld u64=%lu double=%.17g\n", v, (int32_t)v, (int64_t)v, (uint64_t)v, (double)v);
    }
    static const int64_t ivals[] = {0, 1, -1, 9007199254740993LL, INT64_MAX, INT64_MIN, 123456789012345678LL};
    for (unsigned i = 0; i < sizeof ivals / sizeof ivals[0]; i++) {
        volatile int64_t v = ivals[i];
        volatile uint64_t u = (uint64_t)ivals[i];
        printf("convi %ld -> double %.17g float %.9g; as unsigned %lu -> double %.17g float %.9g ldbl %.21Lg\n",
               v, (double)v, (float)v, u, (double)u, (float)u, (long double)u);
    }
}

/* ---------------------------------------------------------------- specials */
static void specials(void)
{
    volatile double z = 0.0, one = 1.0;
    double pinf = one / z, ninf = -one / z;
    double qnan = z / z; /* x86 default NaN has the sign bit set */
    double pnan = NAN;
    printf("special: inf=%g -inf=%g 0/0=%g (bits %016lx) NAN=%g (bits %016lx) -NAN=%g\n",
           pinf, ninf, qnan, bits_d(qnan), pnan, bits_d(pnan), -pnan);
    printf("special: %%f inf=%f %%e -inf=%e %%a nan=%a %%F=%F %%E=%E %%G=%G\n", pinf, ninf, pnan, pinf, ninf, pnan);
    printf("special: isnan=%d isinf=%d signbit(-0.0)=%d 0.0==-0.0:%d nan==nan:%d nan<1:%d inf>1e308:%d\n",
           isnan(qnan), isinf(ninf), signbit(-0.0 * one), 0.0 == -0.0 * one, qnan == qnan, qnan < 1.0, pinf > 1e308);
    printf("special: fmax(nan,1)=%g fmin(-0,0)=%g inf-inf=%g inf*0=%g\n", fmax(pnan, one), fmin(-0.0 * one, 0.0), pinf - pinf, pinf * z);
    printf("special: DBL_MAX=%.17g DBL_MIN=%.17g denorm min=%.17g %a\n", DBL_MAX, DBL_MIN, 4.9406564584124654e-324, 4.9406564584124654e-324);
    printf("special: formats %.0f %.1f %.3e %10.4f|%-10.2f|%+g %g %g %g\n", 0.5, 0.25, 123456.789, 3.14159, 2.5, 1.0, 1e-5, 123456789.0, 0.0001);
    printf("special: %.0f %.0f %.0f %.0f (round-half-even) %.20f\n", 1.5, 2.5, 3.5, -0.5, 0.1);
}

static int run_once(void)
{
    mandelbrot();
    nbody();
    singles();
    libm();
    rounding();
    exceptions();
    longdouble();
    conversions();
    specials();
    printf("checksum %016lx\n", checksum);
    return 0;
}

/* Optional repeat count (benchmarks/side-by-side.sh runs long enough to measure steady state); tests run once. */
int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 1;
    int rc = 0;
    for (int i = 0; i < reps; i++)
        rc |= run_once();
    return rc;
}
