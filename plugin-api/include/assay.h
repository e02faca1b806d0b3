/* assay.h - the one header a module author includes. */
#ifndef ASSAY_H
#define ASSAY_H

#include "assay/action.h"
#include "assay/consensus.h"
#include "assay/error.h"
#include "assay/host.h"
#include "assay/module.h"
#include "assay/transport.h"
#include "assay/types.h"
#include "assay/version.h"

#endif
